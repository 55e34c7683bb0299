"""TensorBoard: a run's event file holds every scalar family and the final figures; a resumed run writes no step
twice; off by flag, silent without the package."""

from collections import Counter

import pytest

from aelab.train import tensorboard
from aelab.train.config import TrainConfig
from aelab.train.runs import read_metrics
from aelab.train.trainer import Trainer, fit

pytest.importorskip("tensorboard", reason="the tensorboard package (aelab[tensorboard]) is not installed")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

QUICK = dict(arch="afi", n_images=96, image_size=32, batch_size=16, max_batches=2, progress=False,
             grad_ratio_every=1)
STEPS_PER_EPOCH = 2


def _events(folder) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    return accumulator.Reload()


def _steps(events: EventAccumulator, tag: str) -> list[int]:
    return [event.step for event in events.Scalars(tag)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, one_thread):
    run = fit(TrainConfig(**QUICK, epochs=2, output=str(tmp_path_factory.mktemp("board"))))
    return run, _events(run.folder)


def test_every_scalar_family_is_written_at_the_epochs_steps(finished):
    run, events = finished
    tags = set(events.Tags()["scalars"])
    epoch_tags = {"loss/train/aesthetic", "loss/train/emotion", "loss/train/total", "loss/val/total",
                  "metrics/val/aesthetic_accuracy", "metrics/val/emotion_f1_macro", "metrics/val/score",
                  "lr/main", "lr/connectors", "task_weight/aesthetic", "task_weight/emotion"}
    assert epoch_tags <= tags, sorted(epoch_tags - tags)
    for tag in epoch_tags:
        assert _steps(events, tag) == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH], tag
    ratios = {f"grad_ratio/connector{i}" for i in range(1, 6)}
    assert ratios <= tags and "grad_norm/connector1/emotion" in tags
    assert _steps(events, "grad_ratio/connector1") == [1, 2, 3, 4]  # measured at every step
    assert {"loss/test/total", "metrics/test/emotion_accuracy", "metrics/test/score"} <= tags
    assert _steps(events, "metrics/test/score") == [2 * STEPS_PER_EPOCH]


def test_scalars_match_the_runs_metrics_and_results(finished):
    run, events = finished
    rows = read_metrics(run.folder)
    val = [r for r in rows if r["split"] == "val"]
    assert [e.value for e in events.Scalars("loss/val/total")] == pytest.approx([r["loss"] for r in val])
    assert [e.value for e in events.Scalars("lr/main")] == pytest.approx([r["lr"] for r in val])
    assert [e.value for e in events.Scalars("task_weight/emotion")] == pytest.approx([0.25, 0.25])
    test = run.results["test"]
    assert events.Scalars("metrics/test/score")[0].value == pytest.approx(test["score"])
    assert events.Scalars("metrics/test/emotion_accuracy")[0].value == pytest.approx(
        test["metrics"]["emotion"]["accuracy"])


def test_confusion_matrices_at_the_end(finished):
    _, events = finished
    assert {"confusion/val", "confusion/test"} <= set(events.Tags()["images"])
    image = events.Images("confusion/test")[0]
    assert image.step == 2 * STEPS_PER_EPOCH and image.width > image.height > 0  # two tasks side by side


def _interrupt_after_training_epoch(epoch_to_stop):
    """Stop once epoch ``epoch_to_stop`` has trained (its per-step values are written) but before its
    checkpoint: what a Ctrl-C late in an epoch leaves behind."""
    original = Trainer._check_savable

    def check(self, epochs_done, losses=None):
        if epochs_done == epoch_to_stop + 1:
            raise KeyboardInterrupt
        return original(self, epochs_done, losses)

    return check


def test_a_resumed_run_writes_no_step_twice(tmp_path, monkeypatch, one_thread):
    config = TrainConfig(**QUICK, epochs=3, output=str(tmp_path))
    monkeypatch.setattr(Trainer, "_check_savable", _interrupt_after_training_epoch(2))
    with pytest.raises(KeyboardInterrupt):
        fit(config)
    monkeypatch.undo()
    folder = next((tmp_path / "afi-tiny").iterdir())
    assert 6 in _steps(_events(folder), "grad_ratio/connector1")  # written after the last checkpoint (step 4)
    fit(config, resume=folder)
    events = _events(folder)
    for tag in events.Tags()["scalars"]:
        counts = Counter(_steps(events, tag))
        assert max(counts.values()) == 1, (tag, counts)
    assert _steps(events, "grad_ratio/connector1") == [1, 2, 3, 4, 5, 6]
    assert _steps(events, "loss/train/total") == [2, 4, 6]


def test_off_by_flag_and_silent_without_the_package(tmp_path, monkeypatch, capsys, one_thread):
    small = dict(QUICK, epochs=1, max_batches=1, grad_ratio_every=0)
    off = fit(TrainConfig(**small, tensorboard=False, output=str(tmp_path / "off")))
    assert not (off.folder / "tensorboard").exists()
    monkeypatch.setattr(tensorboard, "available", lambda: False)
    capsys.readouterr()
    absent = fit(TrainConfig(**small, output=str(tmp_path / "absent")))
    assert not (absent.folder / "tensorboard").exists()
    captured = capsys.readouterr()
    assert "tensorboard" not in (captured.out + captured.err).lower()
