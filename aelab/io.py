"""File writing shared by every part of aelab: atomic writes (text, bytes, JSON, YAML, ``torch.save``), JSON-safe
values and an append-only CSV log.

An atomic write goes to a temporary file in the destination's folder and is renamed over the destination with
``os.replace``, so a reader sees either the old file or the new one, never half a file; when the write fails the
temporary file is removed and the old file is left as it was. No writer here follows a symbolic link at the
destination: a link where a log or checkpoint is expected is refused with :class:`~aelab.errors.AelabError`.
This module imports nothing else from aelab but its exceptions, so any module may use it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from aelab.errors import AelabError


def refuse_symlink(path: str | Path) -> Path:
    """``path`` as a Path, after checking it is not a symbolic link (a write would land wherever it points)."""
    path = Path(path)
    if path.is_symlink():
        raise AelabError(f"{path} is a symbolic link (to {os.readlink(path)}); aelab writes only regular files "
                         "there: remove the link or choose another folder")
    return path


def refuse_symlinks(folder: str | Path, names: Iterable[str]) -> None:
    """:func:`refuse_symlink` for each of ``names`` inside ``folder``."""
    for name in names:
        refuse_symlink(Path(folder) / name)


def jsonable(value: Any) -> Any:
    """A copy of ``value`` in plain JSON/YAML types: numpy scalars and arrays and tensors become numbers and lists,
    tuples become lists, paths strings, dict keys strings, and NaN or infinite floats ``None`` (JSON null)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _ordinary_mode() -> int:
    """The mode an ordinary new file gets here: 0666 less the process's umask (read without changing it: /proc
    where present, else by setting and restoring it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | Path, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Call ``write(stream)`` on a temporary file beside ``path``, then rename it to ``path``.

    On any error the temporary file is deleted and ``path`` keeps its previous content (or stays absent).
    """
    path = refuse_symlink(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        text_options = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(handle, "wb" if binary else "w", **text_options) as stream:
            write(stream)
        os.chmod(temporary, _ordinary_mode())  # mkstemp makes 0600; the file is as readable as any other
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda stream: stream.write(text))


def write_bytes_atomic(data: bytes, path: str | Path) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_atomic(path, lambda stream: stream.write(data), binary=True)


def _serialise(kind: str, path: str | Path, dump: Callable[[], str]) -> str:
    try:
        return dump()
    except (TypeError, ValueError) as error:  # the value cannot be written: say so before touching the file
        raise AelabError(f"{path}: cannot write the value as {kind} ({error}); the file was not changed") from None


def write_json_atomic(data: Any, path: str | Path) -> Path:
    """Write ``data`` as indented JSON (keys sorted, through :func:`jsonable`) to ``path`` atomically; a value
    JSON cannot hold raises :class:`~aelab.errors.AelabError` and leaves ``path`` unchanged."""
    text = _serialise("JSON", path, lambda: json.dumps(jsonable(data), indent=2, sort_keys=True, allow_nan=False))
    return write_text_atomic(text, path)


def write_yaml_atomic(data: Any, path: str | Path, sort_keys: bool = False) -> Path:
    """Write ``data`` as YAML (``yaml.safe_dump``) to ``path`` atomically; unchanged on a value YAML cannot hold."""
    import yaml

    def dump() -> str:
        try:
            return yaml.safe_dump(data, sort_keys=sort_keys)
        except yaml.representer.RepresenterError as error:
            raise ValueError(str(error)) from None

    return write_text_atomic(_serialise("YAML", path, dump), path)


def torch_save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically: an interruption never leaves half a checkpoint."""
    import torch

    return write_atomic(path, lambda stream: torch.save(obj, stream), binary=True)


class CsvLog:
    """Append-only CSV with a fixed header: the union of the keys of the first rows written together
    (or the existing file's header). Refuses a symbolic link at its path."""

    def __init__(self, path: str | Path):
        self.path = refuse_symlink(path)
        self.fields: list[str] | None = None
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open(newline="") as stream:
                self.fields = next(csv.reader(stream))

    def append(self, *rows: dict[str, Any]) -> None:
        """Append ``rows`` (keys outside the header are dropped; missing ones are left empty)."""
        refuse_symlink(self.path)
        if self.fields is None:
            self.fields = list(dict.fromkeys(key for row in rows for key in row))
            with self.path.open("w", newline="") as stream:
                csv.writer(stream).writerow(self.fields)
        with self.path.open("a", newline="") as stream:
            csv.DictWriter(stream, self.fields, extrasaction="ignore").writerows(rows)

    def truncate_after(self, epoch: int) -> None:
        """Drop rows of epochs after ``epoch`` (a resumed run rewrites them); the file is replaced atomically."""
        if self.fields is None:
            return
        with refuse_symlink(self.path).open(newline="") as stream:
            rows = [r for r in csv.DictReader(stream) if int(r["epoch"]) <= epoch]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.fields)
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(self.path, lambda stream: stream.write(buffer.getvalue()))
