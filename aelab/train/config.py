"""Every knob of a training run in one dataclass (nanoGPT-style), saved as the run's ``config.yaml``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from aelab.errors import UnknownNameError

OPTIMIZERS = ("sgd", "adam")
SCHEDULERS = ("cosine", "step", "none")


@dataclass
class TrainConfig:
    """Parameters of :func:`aelab.train.fit`; the defaults train a small model on SynthAE on a CPU."""

    # data
    data: str = "synthae"  # "synthae" or a read_dataset kind (uae, iae, fi, twitter, ava, artphoto)
    root: str | None = None  # data set root (not used by synthae)
    data_options: dict[str, Any] = field(default_factory=dict)  # passed to read_dataset
    n_images: int = 2000  # SynthAE images
    tasks: list[str] = field(default_factory=lambda: ["aesthetic", "emotion"])
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)  # train/val/test when the data has no official split
    folds: int | None = None  # k-fold cross-validation (paper 004: 5): test = fold ``fold``, train = the rest
    fold: int = 0  # which fold is held out (0 .. folds-1); folds are stratified by the first task and seeded
    image_size: int = 64
    augment: bool = True  # resize + random crop + flip (METHODS §2); False: eval transform for training too
    normalization: str = "imagenet"
    # model
    arch: str = "afi"
    backbone: str = "tiny"
    weights: str | None = None  # None, "imagenet" or a state dict path
    model_options: dict[str, Any] = field(default_factory=dict)
    # balancing
    balancing: str = "fixed"
    balancing_options: dict[str, Any] = field(default_factory=dict)
    # optimisation
    optimizer: str = "sgd"
    lr: float = 0.02
    connector_lr: float | None = None  # own learning rate of connector/fusion parameters (AENet: 100x)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    scheduler: str = "cosine"
    epochs: int = 6
    batch_size: int = 64
    max_batches: int | None = None  # cap on training batches per epoch (quick checks)
    # execution
    seed: int = 0
    device: str = "auto"  # auto: CUDA when present, else CPU
    amp: bool = True  # mixed precision, on CUDA only
    num_workers: int = 0
    grad_ratio_every: int = 10  # record per-task gradient norms at the connectors every N steps (0: never)
    output: str = "runs"
    name: str | None = None  # run name; default "<arch>-<backbone>"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UnknownNameError("optimizer", self.optimizer, OPTIMIZERS)
        if self.scheduler not in SCHEDULERS:
            raise UnknownNameError("scheduler", self.scheduler, SCHEDULERS)
        for name in ("epochs", "batch_size", "image_size", "n_images"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not self.tasks:
            raise ValueError("tasks must name at least one task")
        if self.folds is not None and (int(self.folds) < 2 or not 0 <= int(self.fold) < int(self.folds)):
            raise ValueError(f"folds must be at least 2 and fold in 0..folds-1, got folds={self.folds!r}, "
                             f"fold={self.fold!r}")
        self.tasks = list(self.tasks)
        self.fractions = tuple(self.fractions)

    @property
    def run_name(self) -> str:
        return self.name or f"{self.arch}-{self.backbone}"

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (YAML-safe)."""
        values = dataclasses.asdict(self)
        values["fractions"] = list(self.fractions)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, naming any unknown key instead of ignoring it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UnknownNameError("training parameter", unknown[0], sorted(known))
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
