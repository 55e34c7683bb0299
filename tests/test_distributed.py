"""DDP under torchrun: 2 gloo processes on the CPU train and agree with 1 process."""

import os
import subprocess
import sys

import pytest

from aelab.train.distributed import GlobalBatchSampler
from aelab.train.runs import read_metrics

ARGS = ["--n-images", "240", "--image-size", "32", "--epochs", "2", "--batch-size", "32", "--arch", "cross_stitch",
        "--no-augment", "--no-progress", "--grad-ratio-every", "0", "--lr", "0.01"]


def test_processes_split_each_global_batch():
    one = list(GlobalBatchSampler(50, 8, seed=3))
    halves = [list(GlobalBatchSampler(50, 8, seed=3, rank=r, world_size=2)) for r in (0, 1)]
    assert len(one) == len(halves[0]) == len(halves[1])
    for whole, first, second in zip(one, *halves):
        assert sorted(first + second) == sorted(whole) and not set(first) & set(second)
    sampler = GlobalBatchSampler(50, 8, seed=3)
    sampler.set_epoch(1)
    assert list(sampler) != one


def _train(tmp_path, name, launcher, extra=()):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*launcher, "-m", "aelab.cli", "train", *ARGS, *extra, "--output", str(tmp_path), "--name", name]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return read_metrics(next((tmp_path / name).iterdir()))


def test_two_gloo_processes_agree_with_one(tmp_path):
    single = _train(tmp_path, "one", [sys.executable])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    double = _train(tmp_path, "two", torchrun)
    assert [(r["epoch"], r["split"]) for r in double] == [(r["epoch"], r["split"]) for r in single]
    for a, b in zip(single, double):
        # same images per step and averaged gradients: only BatchNorm statistics (per process) differ
        assert b["loss"] == pytest.approx(a["loss"], rel=0.05), (a, b)


def test_gradnorm_under_two_gloo_processes_agrees_with_one(tmp_path):
    """GradNorm's task weights are trained from each process's own gradient norms, their gradient averaged over
    the processes: the weights stay one set (the main process's TensorBoard holds them) and follow one process's."""
    gradnorm = ["--balancing", "gradnorm"]
    single = _train(tmp_path, "one", [sys.executable], gradnorm)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    double = _train(tmp_path, "two", torchrun, gradnorm)
    assert [(r["epoch"], r["split"]) for r in double] == [(r["epoch"], r["split"]) for r in single]
    for a, b in zip(single, double):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.05), (a, b)
        weights = [b["weight_aesthetic"], b["weight_emotion"]]
        assert sum(weights) == pytest.approx(2.0) and min(weights) > 0
        assert weights == pytest.approx([a["weight_aesthetic"], a["weight_emotion"]], rel=0.05), (a, b)
    assert double[-1]["weight_emotion"] != 1.0  # the weights did move
    boards = list((tmp_path / "two").rglob("events.out.tfevents.*"))
    assert len(boards) <= 1  # written by the main process only (none without tensorboard)
