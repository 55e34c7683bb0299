"""Points as process groups: each point's process starts a session of its own, so that stopping a sweep stops the
point, its Jupyter kernel (which papermill starts in yet another session) and whatever the kernel started, and
leaves nothing running; SIGTERM to a sweep is handled like Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

GRACE_SECONDS = 10.0


def start_group(command: Sequence[str], log: IO, env: dict[str, str]) -> subprocess.Popen:
    """Start ``command`` as the leader of a new session and process group (its PGID is its PID), output to
    ``log``; Ctrl-C in the terminal reaches the sweep only, which stops its points itself."""
    return subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _table() -> dict[int, tuple[int, int]]:
    """``pid → (parent pid, process group)`` of every process ``/proc`` lists (empty where there is no /proc)."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def groups_of(pids: Sequence[int]) -> set[int]:
    """The process groups of ``pids`` and of all their descendants (a kernel's own group among them)."""
    table = _table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    groups, todo = set(pids), list(pids)
    while todo:
        pid = todo.pop()
        if pid in table:
            groups.add(table[pid][1])
        todo.extend(children.get(pid, []))
    return groups


def _signal_groups(groups: set[int], signum: int) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    table = _table()
    if table:
        return any(g == group and _running(pid) for pid, (_, g) in table.items())
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _running(pid: int) -> bool:
    from aelab.sweep.lock import alive

    return alive(pid)


def stop_groups(processes: Sequence[subprocess.Popen], grace: float = GRACE_SECONDS) -> None:
    """Stop ``processes`` (each started by :func:`start_group`) with everything they started: SIGTERM to every
    group, then SIGKILL to those still running after ``grace`` seconds; the processes are reaped."""
    groups = groups_of([p.pid for p in processes]) - {os.getpgrp()}
    _signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    while time.monotonic() < deadline and any(map(_group_alive, groups)):
        time.sleep(0.1)
    _signal_groups({g for g in groups if _group_alive(g)}, signal.SIGKILL)
    for process in processes:
        process.wait()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise KeyboardInterrupt, so that one ``except`` stops the points either
    way — SIGINT too because a process started in the background by a shell inherits it ignored, and a sweep must
    still stop cleanly when it is sent; the previous handlers are restored after. Outside the main thread it does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Within the block a second Ctrl-C or SIGTERM is ignored, so that stopping the points is not cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
