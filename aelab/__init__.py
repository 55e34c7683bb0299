"""aelab — joint image aesthetics + emotion prediction with multi-task CNNs, and tools to see what they learned.

``aelab.fit(...)`` trains (see :mod:`aelab.train`), ``aelab.predict(run, images)`` predicts with a trained run and
``aelab.load_run(run)`` loads one (model, config, checkpoint, input normalisation). They are imported on first use
so that ``import aelab`` stays light.
"""

from typing import Any

__version__ = "0.1.0"

_LAZY = {"fit": ("aelab.train.trainer", "fit"), "predict": ("aelab.prediction", "predict"),
         "load_run": ("aelab.load", "load_run"), "LoadedRun": ("aelab.load", "LoadedRun")}
_LAZY["reference_run"] = ("aelab.reference_model", "reference_run")  # the shipped SynthAE run (a folder)
_LAZY["reference_baseline_run"] = ("aelab.reference_model", "reference_baseline_run")  # its single-task twin
_LAZY["evaluate"] = ("aelab.cross_evaluation", "evaluate")  # a trained run on another data set's test split
_LAZY["explain"] = ("aelab.viz.explain", "explain")  # any photograph: prediction, Grad-CAM, groups, grid


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'aelab' has no attribute {name!r}")
