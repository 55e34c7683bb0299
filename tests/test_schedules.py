"""Learning-rate schedules: the one-cycle policy steps per batch, warms up, ends near zero and resumes exactly."""

import math

import pytest
import torch

from aelab.train.config import TrainConfig
from aelab.train.runs import read_metrics
from aelab.train.schedules import ONECYCLE_WARMUP, SCHEDULES, build_schedule
from aelab.train.trainer import Trainer, fit


def _optimizer(lr=0.1):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)


def _trace(scheduler, optimizer, steps):
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_one_cycle_warms_up_to_the_configured_rate_then_descends_to_nearly_zero():
    optimizer = _optimizer()
    lrs = _trace(build_schedule("onecycle", optimizer, 4, 25, [0.1]), optimizer, 100)
    peak = lrs.index(max(lrs))
    assert SCHEDULES["onecycle"].per_step and not SCHEDULES["cosine"].per_step
    assert peak == pytest.approx(ONECYCLE_WARMUP * 100, abs=1)
    assert max(lrs) == pytest.approx(0.1, rel=1e-3) and lrs[0] == pytest.approx(0.1 / 25)
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))  # rises to the peak …
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))  # … then only falls
    assert lrs[-1] < 1e-3 * 0.1


def test_a_schedule_advanced_past_finished_epochs_matches_an_uninterrupted_one():
    optimizer = _optimizer()
    whole = _trace(build_schedule("onecycle", optimizer, 4, 25, [0.1]), optimizer, 100)
    optimizer = _optimizer(lr=0.5)  # whatever the optimizer holds now, the schedule starts from the base rate
    resumed = _trace(build_schedule("onecycle", optimizer, 4, 25, [0.1], epochs_done=2), optimizer, 50)
    assert resumed == pytest.approx(whole[50:])
    optimizer = _optimizer()
    cosine = build_schedule("cosine", optimizer, 4, 25, [0.1], epochs_done=1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi / 4)) / 2)


def test_the_trainer_steps_one_cycle_per_batch_and_a_resumed_run_matches(tmp_path, monkeypatch):
    config = TrainConfig(output=str(tmp_path), scheduler="onecycle", epochs=3, n_images=240, image_size=32,
                         batch_size=32, progress=False, grad_ratio_every=0)
    whole = fit(config.replace(name="whole"))
    lrs = [r["lr"] for r in read_metrics(whole.folder) if r["split"] == "train"]
    assert config.lr > lrs[0] > lrs[1] > lrs[2]  # past the peak within the first epoch, then falling
    assert lrs[2] < 1e-3 * config.lr  # the last batch ends the descent

    original = Trainer.train_epoch

    def stop_at_second(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        fit(config.replace(name="cut"))
    monkeypatch.undo()
    folder = next((tmp_path / "cut").iterdir())
    resumed = fit(config.replace(name="cut"), resume=folder)
    assert [r["lr"] for r in read_metrics(folder) if r["split"] == "train"] == pytest.approx(lrs)
    assert resumed.results["test"]["metrics"] == whole.results["test"]["metrics"]
