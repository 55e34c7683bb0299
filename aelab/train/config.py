"""Every knob of a training run in one dataclass (nanoGPT-style), saved as the run's ``config.yaml``.

Every value is checked when the config is made (:meth:`TrainConfig.validate`): names against the registries
(data set kinds, architectures, backbones, balancers, tasks), types and ranges, the device against this
machine, and the run name against escaping ``output``. A bad value raises :class:`~aelab.errors.ConfigError`
before any data are read or any folder is made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aelab.aesthetic_targets import AESTHETIC_TARGETS
from aelab.errors import ConfigError
from aelab.train import config_checks as checks
from aelab.train.device_settings import AMP_DTYPES, auto_or
from aelab.train.optimizers import OPTIMIZERS
from aelab.train.schedules import SCHEDULES


def data_kinds() -> list[str]:
    """``synthae`` (generated in memory) and every reader of :data:`aelab.data.formats.READERS`."""
    from aelab.data.formats import READERS

    return list(dict.fromkeys(["synthae", *READERS]))


def _architectures() -> list[str]:
    from aelab.models import MODELS

    return list(MODELS)


def _backbones() -> list[str]:
    from aelab.models import BACKBONES

    return list(BACKBONES)


def _balancers() -> list[str]:
    from aelab.train.balancing import BALANCERS

    return list(BALANCERS)


def _normalizations() -> list[str]:
    from aelab.data.transforms import MODEL_NORMALIZATIONS

    return list(MODEL_NORMALIZATIONS)


def _tasks() -> list[str]:
    from aelab.tasks import TASKS

    return list(TASKS)


def _weights(parameter: str, value: Any) -> Any:
    """None, "imagenet", a torchvision entry name or a state dict path, or ``{branch: one of those}``."""
    if isinstance(value, dict):
        return {checks.text()(f"{parameter}.{k}", k): checks.text(optional=True)(f"{parameter}.{k}", v)
                for k, v in value.items()}
    return checks.text(optional=True)(parameter, value)


def _init(parameter: str, value: Any) -> dict[str, str]:
    """``{branch or stream name: run folder or state-dict file}`` (:mod:`aelab.models.initialisation`); the names
    and paths are checked when the model is built, so that a resumed run does not need its sources."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(parameter, value, "a mapping of branch names to run folders or state-dict files, "
                                            "e.g. {aesthetic: runs/single/RUN, emotion: runs/single/RUN2}")
    return {checks.text()(parameter, k): checks.text()(f"{parameter}.{k}", v) for k, v in value.items()}


FIELD_CHECKS: dict[str, checks.Check] = {
    "data": checks.one_of(data_kinds),
    "root": checks.text(optional=True),
    "data_options": checks.mapping,
    "n_images": checks.integer(3),
    "tasks": checks.name_list(_tasks),
    "fractions": checks.fractions,
    "folds": checks.integer(2, optional=True),
    "fold": checks.integer(0),
    "image_size": checks.integer(1),
    "augment": checks.boolean,
    "crop": checks.boolean,
    "soft_aesthetic": checks.number(positive=True, optional=True),
    "aesthetic_target": checks.one_of(lambda: AESTHETIC_TARGETS),
    "normalization": checks.one_of(_normalizations),
    "arch": checks.one_of(_architectures),
    "backbone": checks.one_of(_backbones),
    "weights": _weights,
    "init": _init,
    "model_options": checks.mapping,
    "balancing": checks.one_of(_balancers),
    "balancing_options": checks.mapping,
    "optimizer": checks.one_of(lambda: OPTIMIZERS),
    "lr": checks.number(positive=True),
    "connector_lr": checks.number(positive=True, optional=True),
    "momentum": checks.number(),
    "weight_decay": checks.number(),
    "scheduler": checks.one_of(lambda: SCHEDULES),
    "epochs": checks.integer(1),
    "batch_size": checks.integer(1),
    "max_batches": checks.integer(1, optional=True),
    "seed": checks.integer(0),
    "device": checks.check_device,
    "amp": checks.boolean,
    "amp_dtype": checks.one_of(lambda: AMP_DTYPES),
    "channels_last": checks.boolean,
    "compile": checks.boolean,
    "num_workers": auto_or(checks.integer(0)),
    "pin_memory": auto_or(checks.boolean),
    "persistent_workers": auto_or(checks.boolean),
    "prefetch_factor": auto_or(checks.integer(1)),
    "tensorboard": checks.boolean,
    "grad_ratio_every": checks.integer(0),
    "output": checks.text(),
    "name": checks.folder_name,
    "progress": checks.boolean,
}
"""Field → its check (:mod:`aelab.train.config_checks`); every field of :class:`TrainConfig` has one."""


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
    augment: bool = True  # resize + random crop + flip (docs/science.md §2); False: eval transform for training too
    crop: bool = True  # the random crop of `augment` (False: flip only, the image's framing kept)
    # train the aesthetic head on the raters' mean score instead of the 0/1 label where it is known, with the
    # temperature T in score points (None: the label); aesthetic_target says how (aelab.aesthetic_targets):
    # "soft", BCE against σ((score − 5) / T); "score", the logit z regresses the score as 5 + T·z.
    # Metrics still count the 0/1 labels.
    soft_aesthetic: float | None = None
    aesthetic_target: str = "soft"
    normalization: str = "imagenet"
    # model
    arch: str = "afi"
    backbone: str = "tiny"
    weights: str | None = None  # None, "imagenet" or a state dict path
    init: dict[str, str] = field(default_factory=dict)  # {branch: run folder or state dict} loaded over `weights`
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
    amp: bool = True  # mixed precision as amp_dtype says (False: off)
    amp_dtype: str = "auto"  # auto: CUDA bf16 (fp16 + GradScaler without bf16), CPU off; "bfloat16"; "float16"
    channels_last: bool = False  # NHWC memory order for weights and images (faster convolutions on tensor cores)
    compile: bool = False  # train through torch.compile (first steps compile; needs a C compiler)
    # DataLoader ("auto": chosen from the cores and the device, see aelab.train.device_settings)
    num_workers: str | int = "auto"
    pin_memory: str | bool = "auto"
    persistent_workers: str | bool = "auto"
    prefetch_factor: str | int = "auto"
    tensorboard: bool = True  # write <run>/tensorboard/ when the tensorboard package is installed
    grad_ratio_every: int = 10  # record per-task gradient norms at the connectors every N steps (0: never)
    output: str = "runs"
    name: str | None = None  # run name (one folder name under ``output``); default "<arch>-<backbone>"
    progress: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field (:data:`FIELD_CHECKS`), then the fields that depend on each other; store each
        value in its plain type. Raises :class:`~aelab.errors.ConfigError` on the first bad value."""
        for spec in dataclasses.fields(self):
            setattr(self, spec.name, FIELD_CHECKS[spec.name](spec.name, getattr(self, spec.name)))
        self._check_data()
        if self.aesthetic_target != "soft" and self.soft_aesthetic is None:
            raise ConfigError("soft_aesthetic", self.soft_aesthetic,
                              f"a temperature in score points with aesthetic_target {self.aesthetic_target!r} "
                              "(the logit z stands for the score 5 + T·z)")
        if self.soft_aesthetic is not None and "aesthetic" not in self.tasks:
            raise ConfigError("soft_aesthetic", self.soft_aesthetic,
                              f"null when the tasks ({', '.join(self.tasks)}) do not include aesthetic")
        if self.folds is not None and self.fold >= self.folds:
            raise ConfigError("fold", self.fold, f"a fold in 0..folds-1 (0..{self.folds - 1} with folds={self.folds})")
        if Path(self.output).exists() and not Path(self.output).is_dir():
            raise ConfigError("output", self.output, "a folder (or a path to create one), not a file")

    def _check_data(self) -> None:
        if self.data == "synthae":
            return
        if self.root is None:
            raise ConfigError("root", None, f"the folder of the {self.data!r} data set (data={self.data!r})")
        if not Path(self.root).is_dir():
            raise ConfigError("root", self.root, f"an existing folder holding the {self.data!r} data set")

    @property
    def run_name(self) -> str:
        return self.name or f"{self.arch}-{self.backbone}"

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (YAML-safe)."""
        values = dataclasses.asdict(self)
        values["fractions"] = list(self.fractions)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, saved: bool = False) -> TrainConfig:
        """Build from a dict, naming any unknown key instead of ignoring it.

        ``saved=True`` reads a config written by an earlier run (its ``config.yaml`` or checkpoint): a device
        of the machine that trained it which this machine lacks becomes "auto"."""
        if not isinstance(values, dict):
            raise ConfigError("training parameters", values, "a mapping of parameter names to values")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in known:
                raise ConfigError("training parameter", key, checks.choices(key, sorted(known)))
        if saved and "device" in values:
            try:
                checks.check_device("device", values["device"])
            except ConfigError:
                values = {**values, "device": "auto"}
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
