"""The held-out example images of a run, under the name the notebooks import (:mod:`aelab.examples` is their home)."""

from aelab.examples import HELD_OUT_SEED_OFFSET, Examples, examples

__all__ = ["HELD_OUT_SEED_OFFSET", "Examples", "examples"]
