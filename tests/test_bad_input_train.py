"""Training refuses bad runs with one clear line before it writes anything: an empty data set, an image size the
backbone cannot take, an epoch count below what a run already trained, a run folder another process trains in,
and a symbolic link where a run writes a log or checkpoint."""

import shutil
import subprocess
import sys

import pytest

from aelab.errors import AelabError, ConfigError, DatasetNotFoundError
from aelab.train.config import TrainConfig
from aelab.train.runs import LOCK, RunInUseError, RunLock, checkpoint_path, load_checkpoint
from aelab.train.trainer import fit

SMALL = dict(n_images=120, image_size=32, batch_size=32, epochs=1, progress=False, grad_ratio_every=0)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-epoch run; tests work on copies of its folder."""
    return fit(TrainConfig(output=str(tmp_path_factory.mktemp("runs")), **{**SMALL, "epochs": 2})).folder


@pytest.fixture
def run_copy(finished_run, tmp_path):
    return shutil.copytree(finished_run, tmp_path / "run", symlinks=True)


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_empty_data_set_is_one_line_before_any_folder(tmp_path):
    root = tmp_path / "fi"
    (root / "emotion_dataset" / "amusement").mkdir(parents=True)
    output = tmp_path / "runs"
    with pytest.raises(DatasetNotFoundError, match=r"'fi' data set there holds no images"):
        fit(TrainConfig(data="fi", root=str(root), tasks=["emotion"], output=str(output), **SMALL))
    assert not output.exists()


def test_no_training_split_is_one_line_before_any_folder(tmp_path, monkeypatch):
    import aelab.train.trainer as trainer_module

    real = trainer_module.build_datasets
    monkeypatch.setattr(trainer_module, "build_datasets",
                        lambda config: {k: v for k, v in real(config).items() if k != "train"})
    output = tmp_path / "runs"
    with pytest.raises(ConfigError, match=r"data: got 'synthae', expected a data set whose training split"):
        fit(TrainConfig(output=str(output), **SMALL))
    assert not output.exists()


def test_image_too_small_for_the_backbone_names_the_smallest_size(tmp_path):
    output = tmp_path / "runs"
    with pytest.raises(ConfigError, match=r"image_size: got 16, expected at least 32 .*backbone tiny"):
        fit(TrainConfig(output=str(output), **{**SMALL, "image_size": 16}))
    assert not output.exists()


def test_fewer_epochs_than_already_trained_is_refused(run_copy):
    before = _snapshot(run_copy)
    with pytest.raises(ConfigError, match=r"epochs: got 1, expected at least 2, the epochs .* has already trained"):
        fit(resume=run_copy, epochs=1)
    assert _snapshot(run_copy) == before


def test_a_live_process_holding_the_lock_stops_a_second_resume(run_copy):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_copy / LOCK).write_text(f"{sleeper.pid} {__import__('socket').gethostname()}\n")
        before = _snapshot(run_copy)
        with pytest.raises(RunInUseError, match=rf"in use by another training process \(PID {sleeper.pid}\)"):
            fit(resume=run_copy)
        assert _snapshot(run_copy) == before
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_dead_process_lock_is_taken_over_and_removed_at_the_end(run_copy):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    (run_copy / LOCK).write_text(f"{finished.pid} {__import__('socket').gethostname()}\n")
    fit(resume=run_copy)
    assert not (run_copy / LOCK).exists()


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    first = RunLock(tmp_path).acquire()
    with pytest.raises(RunInUseError, match=r"PID \d+"):
        RunLock(tmp_path).acquire()
    first.release()
    RunLock(tmp_path).acquire().release()
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize("name", ["metrics.csv", "grad_norms.csv", "results.json", "checkpoints/best.pt"])
def test_a_symbolic_link_in_the_run_folder_is_refused(run_copy, tmp_path, name):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not yours")
    link = run_copy / name
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    with pytest.raises(AelabError, match=rf"{name.split('/')[-1]} is a symbolic link"):
        fit(resume=run_copy, epochs=3)
    assert target.read_bytes() == b"not yours"
    assert link.is_symlink() and not (run_copy / LOCK).exists()
    assert load_checkpoint(checkpoint_path(run_copy))["epoch"] == 2
