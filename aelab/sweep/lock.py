"""A point's lock: ``lock.json`` in its folder names the process running it (PID, host, the process's start time),
so that a second sweep or ``--point`` never runs a point that is still running; a lock whose process is gone is
stale and taken over."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from aelab.errors import AelabError
from aelab.io import write_json_atomic

LOCK = "lock.json"


class PointBusy(AelabError):
    """A point is running in another process; the message names it, its PID and host and the lock file."""


@dataclass(frozen=True)
class Holder:
    """The process named by a lock file."""

    pid: int
    host: str
    started: str = ""
    ticks: int | None = None  # the process's start time in clock ticks since boot (Linux), against PID reuse

    def describe(self, folder: Path) -> str:
        since = f" since {self.started}" if self.started else ""
        return f"running in PID {self.pid} on {self.host}{since} (lock {Path(folder) / LOCK})"


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state, ppid, pgrp, session, …), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), where ``/proc`` tells; None elsewhere."""
    fields = _stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def alive(pid: int, ticks: int | None = None) -> bool:
    """True when ``pid`` is a running process (not a zombie) and, when ``ticks`` is given and ``/proc`` can tell,
    the same process that started then (a reused PID is not)."""
    if pid <= 0:
        return False
    if Path("/proc/self/stat").exists():
        fields = _stat(pid)
        return (fields is not None and fields[0] not in ("Z", "X")
                and (ticks is None or start_ticks(pid) == ticks))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def read_holder(folder: str | Path) -> Holder | None:
    """The process named by ``folder``'s lock file, or None without a readable one."""
    try:
        values = json.loads((Path(folder) / LOCK).read_text())
        return Holder(int(values["pid"]), str(values["host"]), str(values.get("started", "")),
                      values.get("ticks"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live_holder(folder: str | Path) -> Holder | None:
    """The holder of ``folder``'s lock while it runs; None when unlocked or stale (its process is gone). A lock
    taken on another host cannot be checked from here and counts as live."""
    holder = read_holder(folder)
    if holder is None:
        return None
    if holder.host != socket.gethostname():
        return holder
    return holder if alive(holder.pid, holder.ticks) else None


def _mine(pid: int) -> dict:
    return {"pid": pid, "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "ticks": start_ticks(pid)}


def acquire(folder: str | Path, pid: int | None = None) -> Holder | None:
    """Take ``folder``'s lock for process ``pid`` (default: this one); return None when taken, else the live
    holder. A stale lock is taken over; a lock held by this process's parent (a sweep that locked the point before
    starting this process for it) is handed over."""
    folder, pid = Path(folder), pid or os.getpid()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    for _ in range(5):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = live_holder(folder)
            if holder is None or (holder.pid == os.getppid() and holder.host == socket.gethostname()):
                if _take_over(path, holder or read_holder(folder), pid):
                    return None
                continue
            return holder
        with os.fdopen(handle, "w") as stream:
            json.dump(_mine(pid), stream)
        return None
    return read_holder(folder)


def _take_over(path: Path, judged: Holder | None, pid: int) -> bool:
    """Replace the lock judged stale (or handed over) by one naming ``pid``, unless it changed meanwhile."""
    if read_holder(path.parent) != judged:
        return False
    write_json_atomic(_mine(pid), path)
    return (read_holder(path.parent) or Holder(-1, "")).pid == pid


def release(folder: str | Path, pids: tuple[int, ...] | None = None) -> None:
    """Remove ``folder``'s lock if it names one of ``pids`` (default: this process) on this host."""
    holder = read_holder(folder)
    pids = pids or (os.getpid(),)
    if holder and holder.pid in pids and holder.host == socket.gethostname():
        try:
            (Path(folder) / LOCK).unlink()
        except FileNotFoundError:
            pass
