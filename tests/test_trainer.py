"""The trainer: run folder contents, learning on SynthAE, resume, NaN stop, gradient-ratio log, predict."""

import csv
import json
import math

import pytest
import torch

from aelab.train.config import TrainConfig
from aelab.train.runs import checkpoint_path, load_checkpoint, read_metrics
from aelab.train.trainer import Trainer, TrainingDivergedError, fit

QUICK = dict(n_images=240, image_size=32, epochs=2, batch_size=32, progress=False, grad_ratio_every=2)


def test_run_folder_holds_config_metrics_checkpoints_and_results(tmp_path):
    run = fit(TrainConfig(arch="afi", output=str(tmp_path), **QUICK))
    folder = run.folder
    assert folder.parent == tmp_path / "afi-tiny"
    config = (folder / "config.yaml").read_text()
    assert "arch: afi" in config and "torch:" in config and "seed: 0" in config
    rows = read_metrics(folder)
    assert [(r["epoch"], r["split"]) for r in rows] == [(0, "train"), (0, "val"), (1, "train"), (1, "val")]
    assert {"loss_aesthetic", "loss_emotion", "weight_emotion"} <= set(rows[0])
    assert {"aesthetic_accuracy", "emotion_f1_macro"} <= set(rows[1])
    for which in ("last", "best"):
        state = load_checkpoint(checkpoint_path(folder, which))
        assert {"model", "optimizer", "balancer", "epoch"} <= set(state)
    assert load_checkpoint(checkpoint_path(folder))["epoch"] == 2
    results = json.loads((folder / "results.json").read_text())
    assert set(results["test"]["metrics"]) == {"aesthetic", "emotion"}
    assert len(results["test"]["confusion"]["emotion"]) == 8
    assert results["weights"] == {"aesthetic": 1.0, "emotion": 0.25}  # fixed: lambda = 1/4
    with (folder / "grad_norms.csv").open() as stream:
        grad_rows = list(csv.DictReader(stream))
    assert {r["group"] for r in grad_rows} == {"connector1", "connector2", "connector3", "connector4"}
    assert all(float(r["norm_emotion"]) > 0 and float(r["norm_aesthetic"]) > 0 for r in grad_rows)


@pytest.mark.parametrize("arch", ["single", "share_split", "cross_stitch", "afi"])
def test_architectures_learn_both_synthae_tasks(tmp_path, arch):
    run = fit(TrainConfig(arch=arch, n_images=1600, image_size=48, epochs=5, batch_size=32, lr=0.03,
                          progress=False, grad_ratio_every=0, output=str(tmp_path)))
    test = run.results["test"]["metrics"]
    assert test["emotion"]["accuracy"] > 0.5, test  # chance 1/8; measured 0.82-0.85
    assert test["aesthetic"]["accuracy"] > 0.61, test  # majority class 0.57; measured 0.65-0.67


def _stop_after(epochs_done):
    original = Trainer.train_epoch

    def train_epoch(self, epoch):
        if epoch == epochs_done:
            raise KeyboardInterrupt
        return original(self, epoch)

    return train_epoch


def test_resume_after_interrupt_gives_identical_metrics(tmp_path, monkeypatch):
    config = TrainConfig(arch="cross_stitch", balancing="dwa", output=str(tmp_path), **{**QUICK, "epochs": 3})
    whole = fit(config.replace(name="whole"))
    monkeypatch.setattr(Trainer, "train_epoch", _stop_after(2))
    with pytest.raises(KeyboardInterrupt):
        fit(config.replace(name="cut"))
    monkeypatch.undo()
    folder = next((tmp_path / "cut").iterdir())
    assert load_checkpoint(checkpoint_path(folder))["epoch"] == 2  # Ctrl-C left a usable last.pt
    resumed = fit(config.replace(name="cut"), resume=folder)
    assert resumed.folder == folder
    def timeless(rows):  # wall-clock seconds differ; NaN (undefined precision) must compare equal
        return [{k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items() if k != "seconds"}
                for r in rows]

    assert timeless(read_metrics(folder)) == timeless(read_metrics(whole.folder))
    assert resumed.results["test"]["metrics"] == whole.results["test"]["metrics"]


def test_nan_loss_stops_with_epoch_batch_and_task(tmp_path, monkeypatch):
    import aelab.train.losses as losses_module  # training losses (model_task_losses) only, not evaluation's

    real_loss = losses_module.task_loss
    emotion_calls = {"n": 0}

    def poisoned(task, logits, target, mask):  # 280 training images / 32 = 9 batches an epoch
        loss = real_loss(task, logits, target, mask)
        if task.name != "emotion":
            return loss
        emotion_calls["n"] += 1
        return loss * math.nan if emotion_calls["n"] == 9 + 2 else loss

    monkeypatch.setattr(losses_module, "task_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"'emotion'.*epoch 2, batch 2.*last good checkpoint"):
        fit(TrainConfig(arch="share_split", output=str(tmp_path), **{**QUICK, "n_images": 400,
                                                                      "grad_ratio_every": 0}))
    folder = next((tmp_path / "share_split-tiny").iterdir())
    assert load_checkpoint(checkpoint_path(folder))["epoch"] == 1


def test_unknown_parameter_is_named():
    from aelab.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="training parameter 'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(UnknownNameError, match="optimizer 'rmsprop'"):
        TrainConfig(optimizer="rmsprop")
