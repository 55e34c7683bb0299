"""A point's lock: ``lock.json`` in its folder names the process running it (PID, host, the process's start time),
so that a second sweep or ``--point`` never runs a point that is still running; a lock whose process is gone is
stale and taken over (:class:`aelab.process_lock.ProcessLock`)."""

from __future__ import annotations

from pathlib import Path

from aelab.errors import AelabError
from aelab.process_lock import Holder, ProcessLock, alive, start_ticks

__all__ = ["LOCK", "Holder", "PointBusy", "acquire", "alive", "live_holder", "read_holder", "release",
           "start_ticks"]

LOCK = "lock.json"


class PointBusy(AelabError):
    """A point is running in another process; the message names it, its PID and host and the lock file."""


def _lock(folder: str | Path) -> ProcessLock:
    return ProcessLock(Path(folder) / LOCK)


def read_holder(folder: str | Path) -> Holder | None:
    """The process named by ``folder``'s lock file, or None without a readable one."""
    return _lock(folder).holder()


def live_holder(folder: str | Path) -> Holder | None:
    """The holder of ``folder``'s lock while it runs; None when unlocked or stale (its process is gone). A lock
    taken on another host cannot be checked from here and counts as live."""
    return _lock(folder).live_holder()


def acquire(folder: str | Path, pid: int | None = None) -> Holder | None:
    """Take ``folder``'s lock for process ``pid`` (default: this one); return None when taken, else the live
    holder. A stale lock is taken over; a lock held by this process's parent (a sweep that locked the point before
    starting this process for it) is handed over."""
    return _lock(folder).acquire(pid, parent_hands_over=True)


def release(folder: str | Path, pids: tuple[int, ...] | None = None) -> None:
    """Remove ``folder``'s lock if it names one of ``pids`` (default: this process) on this host."""
    _lock(folder).release(pids)
