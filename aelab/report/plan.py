"""The demo as data: which notebooks run, in which order, with which CPU-sized parameters, and what each takes
from the notebooks before it. Adding a notebook to the demo is one more :class:`DemoStep` in ``DEMO_STEPS``.

The visualisation notebooks (02, 03, 05) inspect the SynthAE reference run shipped with aelab
(:func:`aelab.reference_run`), a network that has learned what SynthAE planted; notebook 01 still trains its own
model and compares it with that reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DemoStep:
    """One notebook of the demo.

    ``parameters`` are the demo's settings (sized for 2 CPU cores; the notebook's own defaults fill the rest) and
    ``quick`` overrides them for ``aelab demo --quick`` (a smoke run). ``inputs`` maps a parameter to
    ``(earlier notebook stem, results.json key)``: e.g. ``{"run": ("01_train_multitask", "run")}`` passes the run
    folder trained by notebook 01. ``size_parameter`` is the parameter ``--n`` sets. ``table`` names a list of
    rows in the notebook's results.json shown as the front page's results table; ``key_figures`` the figures shown
    there (default: the first two of its results' ``figures``); ``summary`` the numbers of its results.json
    listed there (dotted names or globs, as in a sweep grid's ``metrics``; default: the first dozen). ``widgets``:
    run it with ``interactive=True`` so its widgets are built, and their last state is saved in the executed
    notebook (papermill stores it) and drawn in its report page; the other notebooks run with ``interactive=False``.
    """

    notebook: str
    title: str
    parameters: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    size_parameter: str | None = None
    table: str | None = None
    key_figures: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()
    widgets: bool = False
    figure_checks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    paper: str | None = None

    @property
    def stem(self) -> str:
        return self.notebook.rsplit(".", 1)[0]


DEMO_STEPS: dict[str, DemoStep] = {step.stem: step for step in (
    DemoStep("00_synthae_tour.ipynb", "SynthAE, the synthetic data set",
             parameters={"probe_n": 1200}, quick={"probe_n": 240, "grid_count": 8, "ceiling_n": 200},
             size_parameter="n_images", key_figures=("synthae_samples.png", "synthae_labels.png"),
             summary=("summary.high_rate", "summary.high_rate_positive", "summary.high_rate_negative",
                      "linear_probe.*")),
    DemoStep("01_train_multitask.ipynb", "Training a multi-task network",
             # 2,000 images × 5 epochs for every architecture (the notebook's defaults train its main model on more)
             # keep the four trainings within the demo's budget; at that size a 10 % validation and 20 % test share
             # keep their numbers steady, a gradient ratio every 10 steps gives the curve enough points, and 1,000
             # fresh images place the small model between floor and ceiling
             parameters={"n_images": 2000, "epochs": 5, "compare": ["single", "share_split", "cross_stitch"],
                         "compare_n_images": None, "compare_epochs": None, "fractions": [0.7, 0.1, 0.2],
                         "grad_ratio_every": 10, "ceiling_n": 1000},
             quick={"epochs": 1, "image_size": 32, "compare": ["share_split"], "ceiling_n": 200},
             size_parameter="n_images", table="comparison", paper="PAPER_000_ARCHITECTURES_RESNET50",
             key_figures=("learning_curves.png", "gradient_ratio.png", "confusion.png")),
    DemoStep("02_activation_maximisation.ipynb", "Activation maximisation",
             parameters={"steps": 64},  # 128 by default: half the steps keep the stage-4 atlas within the CPU budget
             quick={"layers": ["emotion.stage3"], "channels": 2, "steps": 4, "image_size": 32,
                    "atlas_layer": "emotion.stage2"},
             key_figures=("class_visualisation.png", "channels_emotion.stage3.png", "atlas.png"),
             summary=("activation.*", "atlas_channels"),
             figure_checks={"atlas*.png": ("atlas_diversity",), "class*.png": ("class_visualisation",)}),
    DemoStep("03_spatial_and_neuron_groups.ipynb", "Spatial positions and neuron groups",
             # the layer and steps of 02's atlas (same size and seed): 03 loads that atlas from the run's cache
             parameters={"layer": "emotion.stage4", "steps": 64},
             quick={"layer": "emotion.stage2", "separability_layers": ["emotion.stage3"], "n_inspect": 24,
                    "groups": 2, "steps": 4, "image_size": 32},
             key_figures=("grid_blend_positive.png", "groups_positive.png"),
             summary=("separability.*.score", "nmf_relative_error.*"), widgets=True,  # the explorer
             figure_checks={"grid_*.png": ("spatial_grid",), "spatial*.png": ("spatial_grid",),
                            "groups*.png": ("group_smoothness",)}),
    DemoStep("04_auxiliary_classifier_selection.ipynb", "Choosing where to attach auxiliary classifiers",
             # trains its own sentiment network (the loop starts from a network fine-tuned for sentiment)
             parameters={"n_images": 400, "epochs": 3, "folds": 3, "n_inspect": 32, "atlas_steps": 32},
             quick={"n_images": 96, "image_size": 32, "epochs": 1, "folds": 2, "n_inspect": 20, "atlas_steps": 2,
                    "atlas_size": 32, "ablation": False},
             table="ablation", paper="PAPER_004_ABLATION",
             key_figures=("neuron_groups_by_layer.png", "ablation.png"),
             summary=("choice.layers", "choice.chosen_by", "cross_validation.accuracy_gain.*")),
    DemoStep("05_grad_cam.ipynb", "Grad-CAM: where each task looks",
             parameters={}, quick={"layers": ["aesthetic.stage3"], "n_inspect": 12, "shown": 4},
             key_figures=("spliced.png",), summary=("cam_mass_in_box.*", "mean_box_area"),
             figure_checks={"spliced*.png": ("spliced_check", "spliced"),
                            "cam_aesthetic*.png": ("subject_focus", "box_share"),
                            "focus*.png": ("focus_comparison",)}),
    DemoStep("06_image_text_aesthetics.ipynb", "Image and comments: co-attention for aesthetics",
             parameters={"n_images": 600, "epochs": 4, "variants": ["mcn_mtl", "image_only"]},
             quick={"n_images": 80, "image_size": 32, "epochs": 1, "batch_size": 16, "width": 16, "heads": 2,
                    "max_tokens": 24, "backbone_options": {"widths": [8, 8, 16, 16], "convs": [1, 1, 1, 1]},
                    "variants": ["mcn_mtl", "image_only"]},
             table="table", paper="PAPER_002_AVA_M", key_figures=("attention_0.png", "learning_curves.png"),
             figure_checks={"attention_*.png": ("coattention_focus", "coattention")}),
)}
"""The demo, in order (dicts keep insertion order)."""
