"""A lock file naming the live process that holds it: one home for the training run's ``train.lock`` and a sweep
point's ``lock.json``.

The file is created with ``O_CREAT | O_EXCL`` (of two processes only one creates it) and holds JSON: the PID, the
host, a readable start time and the process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22),
so that a PID reused by an unrelated process after a crash does not keep the lock alive. A lock whose process is
gone (same host; PID not running, a zombie, or running with other start ticks) is stale: it is moved aside with an
atomic ``os.rename`` (of two processes taking it over only one wins the rename) and created afresh. A lock taken on
another host cannot be checked from here and counts as live. Files in the older ``"<pid> <host>"`` text form are
read as well. This module imports nothing from aelab, so any package may use it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Holder", "ProcessLock", "alive", "start_ticks"]

_WAIT_FOR_CONTENT = 0.2
"""Seconds to wait before reading a lock file again that is empty (its creator may not have written it yet)."""


@dataclass(frozen=True)
class Holder:
    """The process a lock file names (``lock``: that file; not part of equality)."""

    pid: int
    host: str
    started: str = ""
    ticks: int | None = None  # the process's start time in clock ticks since boot (Linux), against PID reuse
    lock: Path | None = field(default=None, compare=False)

    @property
    def here(self) -> bool:
        """True when the holder runs on this host (so that whether it is alive can be checked)."""
        return self.host == socket.gethostname()

    def describe(self) -> str:
        """``running in PID 123 on host since 2024-01-01 12:00:00 (lock path)``."""
        since = f" since {self.started}" if self.started else ""
        return f"running in PID {self.pid} on {self.host}{since} (lock {self.lock})"


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
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: never judge a lock stale
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _parse(text: str, lock: Path) -> Holder | None:
    """A holder from a lock file's text (JSON, or the older ``"<pid> <host>"``); None when it names none."""
    try:
        values = json.loads(text)
        ticks = values.get("ticks")
        return Holder(int(values["pid"]), str(values["host"]), str(values.get("started", "")),
                      None if ticks is None else int(ticks), lock)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    pid, _, host = text.strip().partition(" ")
    try:
        return Holder(int(pid), host.strip() or socket.gethostname(), lock=lock)
    except ValueError:
        return None


def _read(path: Path, wait: bool) -> Holder | None:
    """The holder named in ``path``; None when the file is missing or (after one short wait) names nobody."""
    for pause in ((0.0, _WAIT_FOR_CONTENT) if wait else (0.0,)):
        time.sleep(pause)
        try:
            holder = _parse(path.read_text(), path)
        except OSError:
            return None
        if holder is not None:
            return holder
    return None


class ProcessLock:
    """A lock file at ``path`` naming the live process that holds it (see the module)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def holder(self, wait: bool = False) -> Holder | None:
        """The process named in the lock file, or None without a readable one (``wait``: read an empty file once
        more after a moment, in case its creator has not written it yet)."""
        return _read(self.path, wait)

    @staticmethod
    def is_live(holder: Holder) -> bool:
        """True while ``holder`` runs (always for another host's, which cannot be checked from here)."""
        return not holder.here or alive(holder.pid, holder.ticks)

    def live_holder(self) -> Holder | None:
        """The holder while it runs; None when the lock is free or stale."""
        holder = self.holder()
        return holder if holder is not None and self.is_live(holder) else None

    def acquire(self, pid: int | None = None, parent_hands_over: bool = False) -> Holder | None:
        """Take the lock for process ``pid`` (default: this one): None when taken, else the live holder that keeps
        it. A stale lock is taken over; with ``parent_hands_over`` a lock held by this process's parent on this
        host is too (a parent that locked before starting this process for the job)."""
        pid = pid or os.getpid()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0),
                                 0o644)
            except FileExistsError:
                holder = self.holder(wait=True)
                handed = parent_hands_over and holder is not None and holder.here and holder.pid == os.getppid()
                if holder is not None and self.is_live(holder) and not handed:
                    return holder
                self._move_aside(holder)
                continue
            with os.fdopen(handle, "w") as stream:
                json.dump({"pid": pid, "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                           "ticks": start_ticks(pid)}, stream)
            return None
        return self.holder() or Holder(0, "an unknown host", lock=self.path)

    def _move_aside(self, judged: Holder | None) -> None:
        """Rename the lock judged stale (or handed over) out of the way; when what was moved is a fresh, live lock
        (another process replaced the stale one meanwhile), put it back."""
        aside = self.path.with_name(f".{self.path.name}.{os.getpid()}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:  # another process moved it first
            return
        moved = _read(aside, wait=False)
        try:
            if moved is not None and moved != judged and self.is_live(moved):
                os.link(aside, self.path)
        except FileExistsError:  # a third process already made a new lock: it stands
            pass
        finally:
            aside.unlink(missing_ok=True)

    def release(self, pids: tuple[int, ...] | None = None) -> bool:
        """Remove the lock if it names one of ``pids`` (default: this process) on this host; True when removed."""
        holder = self.holder()
        if holder is None or holder.pid not in (pids or (os.getpid(),)) or not holder.here:
            return False
        self.path.unlink(missing_ok=True)
        return True
