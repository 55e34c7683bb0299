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
    groups = {r["group"] for r in grad_rows}  # one group per connector of the model
    assert {"connector1", "connector2", "connector3", "connector4"} <= groups
    assert all(g.startswith("connector") for g in groups)
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


def test_flips_and_channels_last_train_the_same_weights_twice(tmp_path, one_thread):
    """The reference recipe's settings (random flips without crops, NHWC convolutions, AdamW, the aesthetic head
    regressing the mean score, emotion weighted ½) keep a rerun bit-identical; another seed gives other weights."""
    config = TrainConfig(arch="afi", augment=True, crop=False, channels_last=True, optimizer="adamw", lr=0.002,
                         weight_decay=0.05, soft_aesthetic=0.5, aesthetic_target="score", balancing="fixed",
                         balancing_options={"weights": {"emotion": 0.5}}, scheduler="onecycle", output=str(tmp_path),
                         **{**QUICK, "grad_ratio_every": 0})
    first, second = (fit(config.replace(name=name)) for name in ("first", "second"))
    other = fit(config.replace(name="other", seed=1))

    def weights(run):
        return load_checkpoint(checkpoint_path(run.folder, "last"))["model"]

    assert all(torch.equal(a, b) for a, b in zip(weights(first).values(), weights(second).values()))
    assert not all(torch.equal(a, b) for a, b in zip(weights(first).values(), weights(other).values()))


def test_nan_loss_stops_with_epoch_batch_and_task(tmp_path, monkeypatch):
    import aelab.train.losses as losses_module  # training losses (model_task_losses) only, not evaluation's

    real_loss = losses_module.task_loss
    emotion_calls = {"n": 0}

    def poisoned(task, logits, target, mask, kind=None):  # 280 training images / 32 = 9 batches an epoch
        loss = real_loss(task, logits, target, mask, kind)
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
    from aelab.errors import ConfigError

    with pytest.raises(ConfigError, match="training parameter: got 'epoch'.*did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match="optimizer: got 'rmsprop', expected one of: sgd, adam"):
        TrainConfig(optimizer="rmsprop")


def _all_tensors_finite(state):
    if isinstance(state, torch.Tensor):
        return not state.is_floating_point() or bool(torch.isfinite(state).all())
    if isinstance(state, dict):
        return all(_all_tensors_finite(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return all(_all_tensors_finite(v) for v in state)
    return True


SMALL = dict(n_images=160, image_size=32, batch_size=32, progress=False, grad_ratio_every=0)


def test_non_finite_weights_stop_before_any_checkpoint_holds_them(tmp_path, monkeypatch):
    original = Trainer.train_epoch

    def poison_after_second_epoch(self, epoch):  # training losses stay finite; the validation loss does not
        result = original(self, epoch)
        if epoch == 1:
            buffer = next(b for name, b in self.model.named_buffers() if name.endswith("running_var"))
            buffer.fill_(math.inf)
        return result

    monkeypatch.setattr(Trainer, "train_epoch", poison_after_second_epoch)
    with pytest.raises(TrainingDivergedError, match=r"after epoch 2: .*running_var.*NaN or infinite") as caught:
        fit(TrainConfig(arch="afi", output=str(tmp_path), epochs=3, **SMALL))
    folder = next((tmp_path / "afi-tiny").iterdir())
    named = checkpoint_path(folder)
    assert f"last good checkpoint is {named} (after epoch 1)" in str(caught.value)
    assert load_checkpoint(named)["epoch"] == 1
    for path in folder.rglob("*.pt"):
        assert _all_tensors_finite(load_checkpoint(path)), path
    assert {r["epoch"] for r in read_metrics(folder)} == {0}  # the diverged epoch is not logged either


def test_huge_learning_rate_never_leaves_a_non_finite_checkpoint(tmp_path):
    with pytest.raises(TrainingDivergedError, match=r"epoch \d.*(last good checkpoint is|No finite checkpoint)"):
        fit(TrainConfig(arch="share_split", output=str(tmp_path), epochs=4, lr=1e12, momentum=0.0, max_batches=1,
                        weight_decay=0.0, **SMALL))
    folder = next((tmp_path / "share_split-tiny").iterdir())
    for path in folder.rglob("*.pt"):
        assert _all_tensors_finite(load_checkpoint(path)), path


def test_resume_without_an_epoch_count_keeps_the_runs_own(tmp_path):
    first = fit(TrainConfig(output=str(tmp_path), epochs=2, **SMALL))
    resumed = fit(TrainConfig(), resume=first.folder)  # default epochs (6) means "not asked"
    assert resumed.config.epochs == 2 and resumed.results["epochs"] == 2
    assert load_checkpoint(checkpoint_path(first.folder))["epoch"] == 2
    assert {r["epoch"] for r in read_metrics(first.folder)} == {0, 1}


def test_extending_a_run_follows_a_schedule_rebuilt_for_the_new_total(tmp_path):
    first = fit(TrainConfig(output=str(tmp_path), epochs=2, scheduler="cosine", **SMALL))
    extended = fit(resume=first.folder, epochs=4)
    assert extended.config.epochs == 4
    lrs = {int(r["epoch"]): r["lr"] for r in read_metrics(first.folder) if r["split"] == "train"}
    cosine = {e: 0.02 * (1 + math.cos(math.pi * e / 4)) / 2 for e in (2, 3)}  # CosineAnnealingLR, T_max = 4
    assert lrs[2] == pytest.approx(cosine[2]) and lrs[3] == pytest.approx(cosine[3]), lrs
    assert lrs[0] == pytest.approx(0.02) and lrs[1] == pytest.approx(0.01)  # the first 2 epochs kept their lr
    assert "epochs: 4" in (first.folder / "config.yaml").read_text()
    assert load_checkpoint(checkpoint_path(first.folder))["scheduler"]["T_max"] == 4


def test_resume_restores_the_saved_random_states(tmp_path):
    import random

    import numpy as np

    first = fit(TrainConfig(output=str(tmp_path), epochs=1, **SMALL))
    state = load_checkpoint(checkpoint_path(first.folder))
    random.seed(123), np.random.seed(123), torch.manual_seed(123)
    trainer = Trainer(TrainConfig(), resume=first.folder)
    assert torch.equal(torch.get_rng_state(), state["torch_rng"])
    assert random.getstate() == (state["python_rng"][0], tuple(state["python_rng"][1]), state["python_rng"][2])
    assert np.array_equal(np.random.get_state()[1], state["numpy_rng"][1].numpy())
    trainer.run()


def test_cli_resume_keeps_the_runs_epochs_and_an_explicit_count_extends_it(tmp_path, capsys):
    from aelab.cli import main

    small = ["--n-images", "160", "--image-size", "32", "--batch-size", "32", "--no-progress",
             "--grad-ratio-every", "0", "--output", str(tmp_path)]
    assert main(["train", "--epochs", "2", *small]) == 0
    folder = next(p for p in tmp_path.rglob("config.yaml")).parent
    assert main(["train", "--resume", str(folder)]) == 0  # no --epochs: the run's own 2, not the default 6
    assert load_checkpoint(checkpoint_path(folder))["epoch"] == 2
    assert main(["train", "--resume", str(folder), "--epochs", "6"]) == 0  # explicit, even if it is the default
    assert load_checkpoint(checkpoint_path(folder))["epoch"] == 6
