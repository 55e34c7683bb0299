"""The shared lock file (aelab.process_lock): one holder at a time, a dead holder's lock taken over, a reused PID
seen through its start ticks, the older text form read, and the run and sweep locks built on it."""

import json
import os
import socket
import subprocess
import sys

import pytest

from aelab.process_lock import ProcessLock, alive, start_ticks
from aelab.sweep import lock as point_lock
from aelab.train.runs import RunInUseError, RunLock


def dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def plant(path, **values):
    path.write_text(json.dumps({"host": socket.gethostname(), **values}))


def test_two_holders_never_hold_at_once_and_the_second_is_named_the_first(tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        first = ProcessLock(tmp_path / "x.lock")
        assert first.acquire(sleeper.pid) is None
        holder = ProcessLock(tmp_path / "x.lock").acquire()
        assert holder is not None and holder.pid == sleeper.pid and holder.here
        assert holder.ticks == start_ticks(sleeper.pid)
        assert f"PID {sleeper.pid} on {socket.gethostname()}" in holder.describe()
        assert str(tmp_path / "x.lock") in holder.describe()
        assert not first.release()  # this process does not hold it
        assert first.release((sleeper.pid,)) and not (tmp_path / "x.lock").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_dead_holders_lock_is_taken_over_and_nothing_is_left_aside(tmp_path):
    path = tmp_path / "x.lock"
    plant(path, pid=dead_pid())
    assert ProcessLock(path).live_holder() is None
    assert ProcessLock(path).acquire() is None
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.lock"]


def test_a_reused_pid_is_seen_through_its_start_ticks(tmp_path):
    if start_ticks(os.getpid()) is None:
        pytest.skip("no /proc: process start times are unknown here")
    path = tmp_path / "x.lock"
    plant(path, pid=os.getpid(), ticks=start_ticks(os.getpid()) + 1)  # this PID, but a process started later
    assert alive(os.getpid()) and not alive(os.getpid(), start_ticks(os.getpid()) + 1)
    assert ProcessLock(path).live_holder() is None and ProcessLock(path).acquire() is None
    assert json.loads(path.read_text())["ticks"] == start_ticks(os.getpid())


def test_another_hosts_lock_counts_as_live(tmp_path):
    path = tmp_path / "x.lock"
    plant(path, pid=dead_pid(), host="elsewhere.example")
    holder = ProcessLock(path).acquire()
    assert holder is not None and holder.host == "elsewhere.example" and not holder.here
    assert json.loads(path.read_text())["host"] == "elsewhere.example"


def test_the_older_text_form_is_read(tmp_path):
    path = tmp_path / "x.lock"
    path.write_text(f"{os.getpid()} {socket.gethostname()}\n")
    holder = ProcessLock(path).live_holder()
    assert holder is not None and holder.pid == os.getpid() and holder.ticks is None


def test_run_and_point_locks_share_one_file_format(tmp_path):
    with RunLock(tmp_path / "run"):
        run_file = json.loads((tmp_path / "run" / "train.lock").read_text())
        with pytest.raises(RunInUseError, match=rf"PID {os.getpid()}"):
            RunLock(tmp_path / "run").acquire()
    assert point_lock.acquire(tmp_path / "point") is None
    point_file = json.loads((tmp_path / "point" / point_lock.LOCK).read_text())
    assert set(run_file) == set(point_file) == {"pid", "host", "started", "ticks"}
    assert run_file["ticks"] == point_file["ticks"] == start_ticks(os.getpid())
