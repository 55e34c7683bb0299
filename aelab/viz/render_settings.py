"""How to render an activation-maximisation image (docs/science.md §6): :class:`RenderSettings` and the two reference
procedures, Lucid's (:func:`lucid_defaults`) and paper 004's (:func:`paper_defaults`).

The defaults are chosen for readable images, not for activation alone (``benchmarks/visualisation.py
--against-lucent``): at the activation Lucent reaches in 512 steps, the images must be no rougher (mean absolute
Laplacian, :mod:`aelab.viz.readability`) than 1.1× Lucent's, no more clipped, and get there at least 5× sooner.
Adam at Lucid's lr 0.05 with Fourier, decorrelation and the standard transforms does. Measured with both sides on 2
threads: GoogLeNet 4a with random weights at 128 px, channels 0, 170, 341 and 511 — Lucent reaches mean activation
1.96 at roughness 0.31 and clipped share 0.013 in 30.6 s per channel; these defaults pass that activation after 16
steps (0.21 s per channel, 147× sooner) at roughness 0.09 and clipped share 0, and reach 5.5 after the default 128
steps (roughness 0.19). On the SynthAE reference run (emotion.stage4, 8 channels, its own 64 px, which Lucent is
then also given): Lucent 1.25 at roughness 0.30 and clipped share 0.14 in 7.6 s per channel; here 1.27 after 96
steps (0.38 s, 20× sooner) at roughness 0.19 and clipped share 0.007. The previous lr 0.3 climbed faster but its
images were rough (0.49 after 192 steps on another random initialisation) and mostly clipped (69 %).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from aelab.errors import ConfigError
from aelab.train.config_checks import boolean, integer, number, one_of
from aelab.viz.parameterization import PARAMETERIZATIONS, PixelImage
from aelab.viz.render_optim import OPTIMIZERS, SCHEDULES
from aelab.viz.start import STARTS

# Adam: Lucid's 0.05, chosen for readable images (see the module docstring); ascent: paper 004's α
DEFAULT_LR = {"adam": 0.05, "ascent": 0.05}
LUCID_LR = 0.05


@dataclass(frozen=True)
class RenderSettings:
    """How to render (docs/science.md §6). Every field but ``batch_size`` is part of an atlas's cache key
    (``start`` only when it is not the default; see :meth:`key`).

    steps, size: optimisation steps and image side (px).
    parameterization: a name of :data:`aelab.viz.parameterization.PARAMETERIZATIONS` — ``"fourier"`` (Lucid's
        readable one) or ``"pixel"`` (paper 004's raw pixels from N(0, 1)).
    optimizer: a name of :data:`aelab.viz.render_optim.OPTIMIZERS` — ``"adam"`` or ``"ascent"`` (paper 004 eq. 2) —
        or ``"auto"``: the parameterisation's own (Adam for Fourier, ascent for pixels).
    lr: the optimiser's learning rate (Adam) or step α (ascent); None: :data:`DEFAULT_LR` of the optimiser.
    transforms: Lucid's transformation robustness (pad, jitter, scale, rotate, jitter; :mod:`.robustness`).
    seed: seeds every image's initial values and transform draws, per (seed, image index).
    batch_size: images optimised together; None: as many as fit in memory (on CPU at most 16).
    decorrelate: Fourier colour decorrelation. pixel_output: ``"sigmoid"`` or ``"clamp"`` (see PixelImage).
    schedule, final_lr: a name of :data:`aelab.viz.render_optim.SCHEDULES` — ``"constant"`` or ``"cosine"``
        (decaying to ``lr · final_lr`` at the last step).
    relu_redirect_steps: Lucid's redirected ReLU gradient during the first steps (16, as Lucid; 0: off), so that
        channels dead on the grey start image wake up (:mod:`aelab.viz.relu_redirect`).
    start: a name of :data:`aelab.viz.start.STARTS` — ``"random"`` (the parameterisation's own draw),
        ``"best_colour"`` (each image starts from the flat colour its objective scores highest) or
        ``"best_colour_grain"`` (that colour with the speckle its objective scores highest; what class
        visualisations use).
    """

    steps: int = 128
    size: int = 128
    parameterization: str = "fourier"
    optimizer: str = "auto"
    lr: float | None = None
    transforms: bool = True
    seed: int = 0
    batch_size: int | None = None
    decorrelate: bool = True
    pixel_output: str = "sigmoid"
    schedule: str = "constant"
    final_lr: float = 0.1
    relu_redirect_steps: int = 16
    start: str = "random"

    def __post_init__(self):
        checks = {
            "steps": integer(1), "size": integer(8), "parameterization": one_of(lambda: PARAMETERIZATIONS),
            "optimizer": one_of(lambda: ("auto", *OPTIMIZERS)), "lr": number(positive=True, optional=True),
            "transforms": boolean, "seed": integer(), "batch_size": integer(1, optional=True),
            "decorrelate": boolean, "pixel_output": one_of(lambda: PixelImage.OUTPUTS),
            "schedule": one_of(lambda: SCHEDULES), "final_lr": number(), "relu_redirect_steps": integer(0),
            "start": one_of(lambda: STARTS),
        }
        for name, check in checks.items():
            object.__setattr__(self, name, check(f"RenderSettings.{name}", getattr(self, name)))
        if self.final_lr > 1:
            raise ConfigError("RenderSettings.final_lr", self.final_lr, "a share of lr in [0, 1]")

    @property
    def resolved_optimizer(self) -> str:
        """``optimizer``, or for ``"auto"`` the parameterisation's own."""
        if self.optimizer != "auto":
            return self.optimizer
        return PARAMETERIZATIONS[self.parameterization].default_optimizer

    @property
    def resolved_lr(self) -> float:
        """``lr``, or the optimiser's default (:data:`DEFAULT_LR`)."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.resolved_optimizer]

    def key(self) -> dict:
        """The fields that change the images (``batch_size`` does not), resolved, for cache keys. ``start`` is
        left out at its default, so that atlases cached (and shipped) before it existed keep their keys."""
        fields = asdict(self)
        fields.pop("batch_size")
        if self.start == "random":
            fields.pop("start")
        fields.update(optimizer=self.resolved_optimizer, lr=self.resolved_lr)
        return fields


def lucid_defaults(**changes) -> RenderSettings:
    """Lucid's plain procedure: Fourier + decorrelation, standard transforms, Adam lr 0.05 constant, 512 steps,
    redirected ReLU gradients for the first 16 steps (``changes`` override fields, e.g. ``size``)."""
    return replace(RenderSettings(steps=512, lr=LUCID_LR, optimizer="adam", transforms=True, decorrelate=True,
                                  schedule="constant", relu_redirect_steps=16), **changes)


def paper_defaults(**changes) -> RenderSettings:
    """Paper 004's procedure: raw pixels from N(0, 1), plain gradient ascent α = 0.05 (eq. 2), no transforms,
    224 px as in the paper (pass ``size`` for less)."""
    return replace(RenderSettings(size=224, parameterization="pixel", optimizer="ascent", lr=0.05, transforms=False,
                                  schedule="constant", relu_redirect_steps=0), **changes)
