"""TensorBoard logging of a training run: scalars while it trains, a few figures when it ends.

Written through ``torch.utils.tensorboard`` to ``<run folder>/tensorboard/`` by the main process only; on by
default (``TrainConfig.tensorboard``) when the ``tensorboard`` package is installed, and silently nothing
otherwise. Watch runs with ``tensorboard --logdir runs``.

Tags, by family:

- ``loss/<split>/<task>`` and ``loss/<split>/total``: the epoch's mean training loss, the validation loss, and at
  the end the test loss;
- ``metrics/<split>/<task>_<metric>`` (accuracy, F1, SRCC, …) and ``metrics/<split>/score``;
- ``lr/<parameter group>``: the learning rate each group trained the epoch with;
- ``task_weight/<task>``: the balancer's weight of each task's loss at the epoch's end;
- ``grad_ratio/<group>``: ‖∇L_second task‖ / ‖∇L_first task‖ on each connector's parameters (paper 000's task
  imbalance), with ``grad_norm/<group>/<task>``, whenever the trainer measures them;
- images ``confusion/<split>`` at the end.

Steps are optimiser steps: a value measured while step ``s`` runs is written at ``s + 1``, an epoch's values at
the number of steps done when the epoch ends. A run resumed from a checkpoint taken after ``S`` steps opens the
writer with ``purge_step=S + 1``, so TensorBoard drops what an interrupted epoch had written after the checkpoint
and no step appears twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FOLDER = "tensorboard"


def available() -> bool:
    """Whether ``torch.utils.tensorboard`` can write (the ``tensorboard`` package is installed)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


class Board:
    """Writes scalars and figures of one run; :func:`open_board` makes one."""

    def __init__(self, folder: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(folder) / FOLDER), purge_step=purge_step)

    def scalars(self, family: str, values: Mapping[str, Any], step: int) -> None:
        """``family/<name>`` for every number in ``values`` (others, such as missing metrics, are skipped)."""
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{family}/{name}", float(value), global_step=step)

    def figure(self, tag: str, figure: Figure, step: int) -> None:
        self.writer.add_figure(tag, figure, global_step=step, close=True)

    def close(self) -> None:
        self.writer.close()


class NullBoard(Board):
    """A board that writes nothing (TensorBoard off, absent, or not the main process)."""

    def __init__(self) -> None:
        pass

    def scalars(self, family: str, values: Mapping[str, Any], step: int) -> None:
        pass

    def figure(self, tag: str, figure: Figure, step: int) -> None:
        pass

    def close(self) -> None:
        pass


def open_board(folder: Path, enabled: bool, purge_step: int | None = None) -> Board:
    """A :class:`Board` writing to ``folder / "tensorboard"`` when ``enabled`` and TensorBoard is installed,
    else a :class:`NullBoard`."""
    if not (enabled and available()):
        return NullBoard()
    return Board(folder, purge_step)


# ---- what the trainer writes -------------------------------------------------------------------------------------


def split_scalars(board: Board, split: str, losses: Mapping[str, float], step: int,
                  metrics: Mapping[str, Mapping[str, float]] | None = None, score: float | None = None) -> None:
    """One split's losses (and total), metrics per task and score at ``step``."""
    board.scalars(f"loss/{split}", {**losses, "total": sum(losses.values())}, step)
    flat = {f"{task}_{name}": value for task, values in (metrics or {}).items() for name, value in values.items()}
    if score is not None:
        flat["score"] = score
    board.scalars(f"metrics/{split}", flat, step)


def optimizer_scalars(board: Board, optimizer: torch.optim.Optimizer, weights: Mapping[str, float],
                      step: int) -> None:
    """Learning rate of each parameter group (by its ``name``) and the balancer's task weights."""
    rates = {group.get("name", str(i)): group["lr"] for i, group in enumerate(optimizer.param_groups)
             if group["params"]}
    board.scalars("lr", rates, step)
    board.scalars("task_weight", weights, step)


def gradient_scalars(board: Board, group: str, norms: Mapping[str, float], ratio: float | None, step: int) -> None:
    """Per-task gradient norms on one connector (group) and the ratio of the second task's to the first's."""
    board.scalars(f"grad_norm/{group}", norms, step)
    if ratio is not None:
        board.scalars("grad_ratio", {group: ratio}, step)


def final_figures(board: Board, results: Mapping[str, Any], step: int) -> None:
    """Confusion matrices of each split in ``results`` (Grad-CAM sheets are drawn above the training package,
    by notebook 05 and ``aelab explain``, from the finished run)."""
    if isinstance(board, NullBoard):
        return
    from aelab.train.figures import confusion_matrices

    for split in ("val", "test"):
        if results.get(split, {}).get("confusion"):
            board.figure(f"confusion/{split}", confusion_matrices(dict(results), split), step)
