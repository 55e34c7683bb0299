"""A notebook's parameters (its cell tagged ``parameters``, read with papermill's ``inspect_notebook``) and the
check that every parameter given to it is one of them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from aelab.errors import AelabError


class ParameterError(AelabError, ValueError):
    """A parameter or a notebook named by a grid or the demo plan does not exist."""


@lru_cache(maxsize=None)
def _inspect(path: str, mtime: float) -> dict[str, Any]:
    import papermill

    return {name: spec.get("default") for name, spec in papermill.inspect_notebook(path).items()}


def notebook_parameters(notebook: str | Path) -> dict[str, Any]:
    """Parameter names of ``notebook`` and their default values (as source text)."""
    path = Path(notebook)
    if not path.exists():
        raise ParameterError(f"notebook {path} not found")
    return dict(_inspect(str(path.resolve()), path.stat().st_mtime))


def check_parameters(notebook: str | Path, names: Iterable[str], where: str) -> None:
    """Raise :class:`ParameterError` naming ``where`` (a file and key) unless every name is a parameter of
    ``notebook``."""
    known = notebook_parameters(notebook)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ParameterError(f"{where}: {', '.join(map(repr, unknown))} "
                             f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of "
                             f"{Path(notebook).name}; its parameters are: {', '.join(known)}")
