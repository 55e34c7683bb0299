"""Training: losses, metrics, loss balancing (docs/science.md §1, §4) and the trainer."""

from aelab.train.balancing import BALANCERS, build_balancer
from aelab.train.config import TrainConfig
from aelab.train.losses import task_loss
from aelab.train.metrics import compute_metrics, confusion
from aelab.train.trainer import Run, fit

__all__ = ["BALANCERS", "Run", "TrainConfig", "build_balancer", "compute_metrics", "confusion", "fit", "task_loss"]
