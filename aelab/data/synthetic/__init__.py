"""SynthAE, the built-in synthetic data set (recipes, factors, rendering, comments)."""

from aelab.data.synthetic.dataset import SynthAE

__all__ = ["SynthAE"]
