"""The project's exceptions. Each message says what was expected, what was found and where."""

from __future__ import annotations

from pathlib import Path


class AelabError(Exception):
    """Base class of every error aelab raises on purpose."""


class DataFormatError(AelabError, ValueError):
    """A data file does not follow its published layout; names the file and, when known, the line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}" if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")


class DatasetNotFoundError(AelabError, FileNotFoundError):
    """A data set root or one of its required files is missing."""


class MissingImagesError(AelabError, FileNotFoundError):
    """Images listed by a data set are absent or unreadable (raised in strict mode)."""

    def __init__(self, paths: list[Path], total: int):
        self.paths = list(paths)
        shown = ", ".join(str(p) for p in self.paths[:5])
        more = "" if len(self.paths) <= 5 else f" and {len(self.paths) - 5} more"
        super().__init__(
            f"{len(self.paths)} of {total} listed images are missing or unreadable: {shown}{more}"
        )


class UnknownNameError(AelabError, ValueError):
    """A name was not found in a registry (data set kind, backbone, task, ...)."""

    def __init__(self, what: str, name: object, known: list[str] | tuple[str, ...]):
        self.what, self.name, self.known = what, name, list(known)
        super().__init__(f"unknown {what} {name!r}; expected one of: {', '.join(map(str, self.known))}")


class WeightsUnavailableError(AelabError, RuntimeError):
    """Pretrained weights were asked for but could not be loaded (offline, missing file)."""


class ConfigError(AelabError, ValueError):
    """A parameter (of training, a sweep grid, a notebook or a command) has a value of the wrong name, type or
    range; the message names the parameter, what was given and what is expected."""

    def __init__(self, parameter: str, given: object, expected: str):
        self.parameter, self.given, self.expected = parameter, given, expected
        super().__init__(f"{parameter}: got {given!r}, expected {expected}")
