"""One trainer for every architecture and balancing strategy: fit, evaluate, resume, DDP under torchrun.

Determinism: each epoch reseeds Python, NumPy and torch from ``(seed, epoch)`` and the batch order comes from
the same pair, so a run resumed from ``last.pt`` (written at every epoch end) reproduces the metrics of an
uninterrupted run with the same seed on the same machine.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from aelab.aesthetic_targets import aesthetic_loss_kinds
from aelab.errors import AelabError, ConfigError
from aelab.models import build_model
from aelab.models.inputs import call_model, fit_model_options
from aelab.tasks import get_task
from aelab.train.balancing import build_balancer
from aelab.train.checks import check_input_size, first_non_finite, rng_state, set_rng_state, state_non_finite
from aelab.train.config import TrainConfig
from aelab.train.data import build_datasets, prerender_synthae, save_normalization
from aelab.train.device_settings import (autocast_dtype, available_cores, loader_settings, to_channels_last,
                                         training_module)
from aelab.train.distributed import (Context, GlobalBatchSampler, all_reduce_mean, average_gradients, close_context,
                                     init_context, local_world_size)
from aelab.train.evaluation import SplitResult, evaluate
from aelab.train.gradients import probe_groups, task_gradient_norms
from aelab.train.losses import model_task_losses
from aelab.train.optimizers import OPTIMIZERS
from aelab.train.runs import (CsvLog, RunLock, check_run_files, checkpoint_path, load_checkpoint, new_run_folder,
                              save_checkpoint, write_config, write_results)
from aelab.train.schedules import SCHEDULES, build_schedule
from aelab.train.tensorboard import (Board, NullBoard, final_figures, gradient_scalars, open_board,
                                     optimizer_scalars, split_scalars)

DEFAULT_EPOCHS: int = TrainConfig.__dataclass_fields__["epochs"].default
"""A resumed run whose config carries this default (no epoch count was asked for) keeps its own count."""


class TrainingDivergedError(AelabError, FloatingPointError):
    """A loss, a validation loss, a parameter or a buffer became NaN or infinite; the message names the epoch,
    what was not finite and the last checkpoint that is."""


@dataclass
class Run:
    """What :func:`fit` returns: the run folder, per-epoch metric rows and the final results."""

    folder: Path
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def _optimizer(config: TrainConfig, model: nn.Module, balancer: nn.Module) -> torch.optim.Optimizer:
    """The optimiser ``config.optimizer`` names (:data:`aelab.train.optimizers.OPTIMIZERS`) over the model's
    parameter groups (connectors may have their own learning rate) and the balancer's learned weights (never
    decayed).

    Weight decay applies to every model parameter, batch-norm scales and biases included. The papers do not say
    which parameters they decayed, and the shipped SynthAE reference run was trained this way, so exempting
    one-dimensional parameters (the common practice today) would change what its recipe reproduces."""
    groups = model.parameter_groups(config.lr, config.connector_lr)
    extra = [p for p in balancer.parameters() if p.requires_grad]
    if extra:
        groups.append({"name": "balancer", "params": extra, "lr": config.lr, "weight_decay": 0.0})
    return OPTIMIZERS[config.optimizer](groups, config)


class Trainer:
    """Holds the pieces of one run; :meth:`run` trains, validates, checkpoints and tests."""

    def __init__(self, config: TrainConfig, resume: str | Path | None = None, epochs: int | None = None):
        """``resume``: a run folder or checkpoint to continue with the run's own config. Its epoch count is kept
        unless ``epochs`` is given or ``config.epochs`` differs from the default; a new count rebuilds the
        learning-rate schedule for the new total (see :meth:`_restore`)."""
        self.context: Context = init_context(config.device)
        self.checkpoint = self._find_checkpoint(resume) if resume else None
        if self.checkpoint is not None:
            config = self._resumed_config(config, epochs, resume)
        elif epochs is not None:
            config = config.replace(epochs=epochs)
        self.config = config
        self.device = self.context.device
        seed_everything(config.seed)
        self.tasks = [get_task(t) for t in config.tasks]
        self.loss_kinds = aesthetic_loss_kinds(config.aesthetic_target, config.soft_aesthetic)
        self.datasets = build_datasets(config)
        if "train" not in self.datasets:
            raise ConfigError("data", config.data, "a data set whose training split holds at least one image "
                              f"(splits found: {', '.join(self.datasets) or 'none'})")
        # options learned from the training split (MCN: its vocabulary)
        options = fit_model_options(config.arch, self.datasets["train"].samples, config.model_options)
        config = self.config = config.replace(model_options=options)
        self.model = build_model(config.arch, config.backbone, tasks=config.tasks, weights=config.weights,
                                 init=None if self.checkpoint else config.init, **config.model_options).to(self.device)
        self.balancer = build_balancer(config.balancing, config.tasks, **config.balancing_options).to(self.device)
        self.balancer.attach(self.model)
        self.optimizer = _optimizer(config, self.model, self.balancer)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.per_step_schedule = SCHEDULES[config.scheduler].per_step
        self.amp_dtype = autocast_dtype(config.amp, config.amp_dtype, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.loader_settings = loader_settings(config.num_workers, config.pin_memory, config.persistent_workers,
                                               config.prefetch_factor, self.device,
                                               available_cores(local_world_size()))
        self._loaders: dict[tuple[str, bool], DataLoader] = {}  # kept only with persistent workers
        self.scheduler = self._schedule()
        self.train_model: nn.Module = training_module(self.model, channels_last=config.channels_last,
                                                      compile=config.compile, wrap=self._ddp_wrapper())
        self.groups = {} if self.context.distributed else probe_groups(self.model)
        self.start_epoch, self.best_score, self.best_epoch, self.step = 0, -math.inf, -1, 0
        self.good_epoch: int | None = None  # epochs held by the last checkpoint checked to be finite
        check_input_size(self.model, self.datasets["train"], config.image_size, self.device)
        self.lock: RunLock | None = None
        self.board: Board = NullBoard()
        self.folder = self._folder(resume)
        try:
            self._open_folder()
        except BaseException:
            self._release()
            raise

    def _open_folder(self) -> None:
        """What writes into the run folder (after the lock is held)."""
        config = self.config
        if self.context.is_main and (self.checkpoint is None or config.epochs != self.checkpoint["config"]["epochs"]):
            write_config(self.folder, config.to_dict())
        save_normalization(self.model, config.normalization, self.datasets,
                           self.folder if self.context.is_main else None)
        self.metrics_log = CsvLog(self.folder / "metrics.csv")
        self.grad_log = CsvLog(self.folder / "grad_norms.csv")
        if self.checkpoint is not None:
            self._restore(self.checkpoint)
            set_rng_state(self.checkpoint)
        if self.context.is_main:  # a resumed run's writer drops what was written after its checkpoint
            self.board = open_board(self.folder, config.tensorboard,
                                    purge_step=self.step + 1 if self.checkpoint is not None else None)

    # ---- set-up helpers ------------------------------------------------------------------------------
    def _ddp_wrapper(self):
        """DDP around the model under torchrun (None with one process)."""
        if not self.context.distributed:
            return None
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return lambda model: DistributedDataParallel(model, device_ids=device_ids)

    def _resumed_config(self, config: TrainConfig, epochs: int | None, resume: str | Path) -> TrainConfig:
        """The run's own config with this call's output flags and epoch count (the run's own when not asked)."""
        bad = state_non_finite(self.checkpoint)
        if bad is not None:
            raise TrainingDivergedError(f"{resume} cannot be resumed: its checkpoint's {bad}; resume from a copy of "
                                        "an earlier checkpoint")
        saved = self.checkpoint["config"]
        if epochs is None:
            epochs = config.epochs if config.epochs != DEFAULT_EPOCHS else saved["epochs"]
        done = int(self.checkpoint["epoch"])
        if epochs < done:
            raise ConfigError("epochs", epochs, f"at least {done}, the epochs {resume} has already trained")
        # this machine's device, not the one the run was saved on
        return TrainConfig.from_dict({**saved, "epochs": epochs, "progress": config.progress, "device": config.device})

    @staticmethod
    def _find_checkpoint(resume: str | Path) -> dict[str, Any]:
        path = Path(resume)
        path = checkpoint_path(path) if path.is_dir() else path
        return load_checkpoint(path)

    def _folder(self, resume: str | Path | None) -> Path:
        """The run folder (new, or the resumed one), locked by the main process; nothing is written into a
        resumed folder before its files are checked and the lock is held."""
        if resume is not None:
            path = Path(resume)
            folder = path if path.is_dir() else path.parent.parent
            if self.context.is_main:
                check_run_files(folder)
                self.lock = RunLock(folder).acquire()
            return folder
        if not self.context.is_main:
            return Path(self.config.output) / ".nonmain"
        folder = new_run_folder(self.config.run_name, self.config.output)
        self.lock = RunLock(folder).acquire()
        return folder

    def _release(self) -> None:
        self._loaders.clear()  # persistent workers end with their loaders
        self.board.close()
        if self.lock is not None:
            self.lock.release()

    def _restore(self, state: dict[str, Any]) -> None:
        """Load a checkpoint. When the run now has another epoch count than it was built for, the schedule is
        rebuilt for the new total and advanced to the resumed epoch, so the added epochs follow the new schedule
        instead of the old one's end (learning rate 0 for cosine)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.config.epochs == state["config"]["epochs"]:
            self.scheduler.load_state_dict(state["scheduler"])
        else:
            self.scheduler = self._schedule(state["epoch"])
        self.balancer.load_state_dict(state["balancer"])
        self.start_epoch, self.step = state["epoch"], state["step"]
        self.good_epoch = self.start_epoch
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        if self.context.is_main:
            self.metrics_log.truncate_after(self.start_epoch - 1)
            self.grad_log.truncate_after(self.start_epoch - 1)

    def _schedule(self, epochs_done: int = 0) -> torch.optim.lr_scheduler.LRScheduler:
        """The configured schedule for ``config.epochs`` epochs of this run's training batches, from each group's
        initial learning rate, advanced past ``epochs_done`` epochs: the learning rate an uninterrupted run of that
        length would have there."""
        steps_per_epoch = len(self.loader("train", shuffle=True)) if self.per_step_schedule else 1
        return build_schedule(self.config.scheduler, self.optimizer, self.config.epochs, steps_per_epoch,
                              self.base_lrs, epochs_done)

    def _state(self, epoch: int) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "balancer": self.balancer.state_dict(),
            "epoch": epoch, "step": self.step, "best_score": self.best_score, "best_epoch": self.best_epoch,
            "config": self.config.to_dict(), **rng_state(),
        }

    def _last_good(self) -> str:
        if self.good_epoch is None:
            return "No finite checkpoint was written"
        return f"The last good checkpoint is {checkpoint_path(self.folder)} (after epoch {self.good_epoch})"

    def _check_savable(self, epoch: int, losses: dict[str, float] | None = None) -> None:
        """Stop before a checkpoint with a non-finite validation loss, parameter or buffer is written."""
        bad = first_non_finite({"model": self.model, "balancer": self.balancer}, losses)
        if bad is not None:
            raise TrainingDivergedError(
                f"after epoch {epoch}: {bad}; training stopped and nothing of this epoch was saved. "
                f"{self._last_good()} (lower lr, or try another balancer)."
            )

    def _save_last(self, epoch: int) -> None:
        """``last.pt`` after ``epoch`` finished epochs (the main process writes; every process tracks it)."""
        if self.context.is_main:
            save_checkpoint(self._state(epoch), checkpoint_path(self.folder))
        self.good_epoch = epoch

    def loader(self, split: str, shuffle: bool, epoch: int = 0) -> DataLoader:
        """Batches of one split; training batches follow :class:`GlobalBatchSampler` for ``(seed, epoch)``.
        Workers, pinning and prefetching as :attr:`loader_settings` says; with persistent workers each split's
        loader (and its workers) is made once and only its epoch changes."""
        cached = self._loaders.get((split, shuffle))
        if cached is not None:
            cached.batch_sampler.set_epoch(epoch)
            return cached
        data = self.datasets[split]
        world = self.context.world_size if shuffle else 1
        rank = self.context.rank if shuffle else 0
        sampler = GlobalBatchSampler(len(data), self.config.batch_size, self.config.seed, shuffle=shuffle,
                                     rank=rank, world_size=world, min_per_process=2 if shuffle else 1,
                                     max_batches=self.config.max_batches if shuffle else None)
        sampler.set_epoch(epoch)
        loader = DataLoader(data, batch_sampler=sampler, worker_init_fn=_worker_init,
                            **self.loader_settings.as_kwargs())
        if self.loader_settings.persistent_workers:
            self._loaders[(split, shuffle)] = loader
        return loader

    # ---- one step and one epoch ----------------------------------------------------------------------
    def _losses(self, batch: dict[str, Any], model: nn.Module) -> tuple[dict[str, torch.Tensor], dict]:
        if self.config.channels_last:
            batch = {**batch, "image": to_channels_last(batch["image"])}
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            logits = call_model(model, batch, self.device)
        trained_on = batch.get("loss_targets", batch["targets"])  # aesthetic targets from the score, when configured
        targets = {t.name: trained_on[t.name].to(self.device) for t in self.tasks}
        masks = {t.name: batch["mask"][t.name].to(self.device) for t in self.tasks}
        return model_task_losses(self.model, self.tasks, logits, targets, masks, self.loss_kinds), logits

    def _check_finite(self, losses: dict[str, torch.Tensor], epoch: int, batch_index: int) -> None:
        for task, loss in losses.items():
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"loss of task {task!r} is {loss.item()} at epoch {epoch + 1}, batch {batch_index + 1}; "
                    f"training stopped. {self._last_good()} (lower lr, or try another balancer)."
                )

    def train_epoch(self, epoch: int) -> tuple[dict[str, float], int]:
        """One pass over the training batches; returns the mean loss per task and the images seen (all processes)."""
        self.train_model.train()
        sums = {t.name: 0.0 for t in self.tasks}
        batches = images = 0
        loader = self.loader("train", shuffle=True, epoch=epoch)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.config.epochs}", leave=False,
                   disable=not (self.config.progress and self.context.is_main))
        for batch_index, batch in enumerate(bar):
            losses, _ = self._losses(batch, self.train_model)
            self._check_finite(losses, epoch, batch_index)
            if self.groups and self.config.grad_ratio_every and self.step % self.config.grad_ratio_every == 0:
                self._record_gradients(losses, epoch)
            total = self.balancer(losses)
            self.optimizer.zero_grad(set_to_none=False)
            self.scaler.scale(total).backward()
            if self.context.distributed:  # learnable balancer weights live outside DDP's gradient averaging
                average_gradients(self.balancer.parameters(), self.context)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.balancer.after_step()
            if self.per_step_schedule:
                self.scheduler.step()
            self.step += 1
            batches += 1
            images += len(batch["image"]) * self.context.world_size
            for task, loss in losses.items():
                sums[task] += float(loss.detach())
            bar.set_postfix(loss=f"{float(total.detach()):.3f}")
        means = {task: all_reduce_mean(value / max(batches, 1), self.context) for task, value in sums.items()}
        return means, images

    def _record_gradients(self, losses: dict[str, torch.Tensor], epoch: int) -> None:
        norms = task_gradient_norms(losses, self.groups)
        names = [t.name for t in self.tasks]
        for group, per_task in norms.items():
            row: dict[str, Any] = {"epoch": epoch, "step": self.step, "group": group}
            row.update({f"norm_{task}": per_task[task] for task in names})
            if len(names) >= 2:
                first = per_task[names[0]]
                row["ratio"] = per_task[names[1]] / first if first > 0 else math.inf
            if self.context.is_main:
                self.grad_log.append(row)
                gradient_scalars(self.board, group, per_task, row.get("ratio"), self.step + 1)

    # ---- the whole run -------------------------------------------------------------------------------
    @staticmethod
    def _split_row(epoch: int, split: str, result: SplitResult, extra: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": epoch, "split": split, "loss": result.loss, "score": result.score}
        row.update({f"loss_{task}": value for task, value in result.losses.items()})
        for task, metrics in result.metrics.items():
            row.update({f"{task}_{name}": value for name, value in metrics.items()})
        row.update(extra)
        return row

    def run(self) -> Run:
        """Train (validating and checkpointing each epoch), then test; the run folder's lock is released at the end,
        however it ends."""
        try:
            return self._run()
        finally:
            self._release()

    def _run(self) -> Run:
        config = self.config
        run = Run(self.folder, config, model=self.model)
        started = time.perf_counter()
        images_seen = 0
        try:
            if self.checkpoint is None:
                self._check_savable(0)
                self._save_last(0)
            if self.start_epoch < config.epochs:  # the images of every epoch, rendered before the first one
                prerender_synthae(config, available_cores(local_world_size()))
            for epoch in range(self.start_epoch, config.epochs):
                seed_everything(config.seed * 1000 + epoch)
                epoch_start = time.perf_counter()
                train_losses, images = self.train_epoch(epoch)
                self._check_savable(epoch + 1)
                seconds = time.perf_counter() - epoch_start
                images_seen += images
                self.balancer.epoch_end(train_losses)
                extra = {"lr": self.optimizer.param_groups[0]["lr"], "seconds": seconds}
                extra.update({f"weight_{task}": w for task, w in self.balancer.weights().items()})
                train_row = {"epoch": epoch, "split": "train", "loss": sum(train_losses.values()), "images": images,
                             **extra}
                train_row.update({f"loss_{task}": value for task, value in train_losses.items()})
                if self.context.is_main:
                    rows = [train_row]
                    score = -train_row["loss"]
                    result = None
                    if "val" in self.datasets:
                        result = evaluate(self.model, self.loader("val", False), self.tasks, self.device)
                        rows.append(self._split_row(epoch, "val", result, extra))
                        score = result.score
                        self._check_savable(epoch + 1, result.losses)
                    self.metrics_log.append(*rows)
                    run.history.extend(rows)
                    self._board_epoch(train_losses, result)
                    if score > self.best_score:
                        self.best_score, self.best_epoch = score, epoch
                        save_checkpoint(self._state(epoch + 1), checkpoint_path(self.folder, "best"))
                if not self.per_step_schedule:
                    self.scheduler.step()
                self._save_last(epoch + 1)
        except KeyboardInterrupt:
            if self.context.is_main:
                print(f"\ninterrupted: {checkpoint_path(self.folder)} holds the last finished epoch; "
                      f"continue with fit(resume='{self.folder}')")
            raise
        finally:
            close_context(self.context)
        if self.context.is_main:
            run.results = self._finish(time.perf_counter() - started, images_seen)
        return run

    def _board_epoch(self, train_losses: dict[str, float], val: SplitResult | None) -> None:
        """TensorBoard scalars of the epoch that just ended, at the steps done so far."""
        split_scalars(self.board, "train", train_losses, self.step)
        if val is not None:
            split_scalars(self.board, "val", val.losses, self.step, val.metrics, val.score)
        optimizer_scalars(self.board, self.optimizer, self.balancer.weights(), self.step)

    def _board_end(self, results: dict[str, Any], test: SplitResult | None) -> None:
        """TensorBoard at the end: the test split's scalars and the confusion matrices."""
        if test is not None:
            split_scalars(self.board, "test", test.losses, self.step, test.metrics, test.score)
        final_figures(self.board, results, self.step)

    def _finish(self, seconds: float, images_seen: int) -> dict[str, Any]:
        best = checkpoint_path(self.folder, "best")
        if best.exists():
            self.model.load_state_dict(load_checkpoint(best, self.device)["model"])
        results: dict[str, Any] = {
            "run": str(self.folder), "arch": self.config.arch, "backbone": self.config.backbone,
            "balancing": self.config.balancing, "best_epoch": self.best_epoch + 1,
            "epochs": self.config.epochs, "train_seconds": seconds,
            "train_images_per_second": images_seen / seconds if seconds > 0 else None,
            "weights": self.balancer.weights(),
        }
        test = None
        for split in ("val", "test"):
            if split in self.datasets:
                result = evaluate(self.model, self.loader(split, False), self.tasks, self.device, confusion=True)
                results[split] = {"loss": result.loss, "score": result.score, "metrics": result.metrics,
                                  "confusion": result.confusion}
                test = result if split == "test" else test
        write_results(self.folder, results)
        self._board_end(results, test)
        return results


def fit(config: TrainConfig | None = None, *, resume: str | Path | None = None, **overrides: Any) -> Run:
    """Train a multi-task model as ``config`` (or keyword overrides of the defaults) says; see :class:`TrainConfig`.

    ``resume`` (a run folder or a ``last.pt``) continues that run in its folder with its own config and epoch
    count; ``epochs=N`` (a keyword, or a config whose ``epochs`` is not the default) trains it to N epochs
    instead, with the learning-rate schedule rebuilt for N. Returns a :class:`Run` with the folder, per-epoch
    rows and results (val/test metrics, confusion matrices).
    """
    config = (config or TrainConfig()).replace(**overrides) if overrides else (config or TrainConfig())
    return Trainer(config, resume=resume, epochs=overrides.get("epochs")).run()
