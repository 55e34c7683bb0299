"""A notebook's parameters (its cell tagged ``parameters``, read with papermill's ``inspect_notebook``) and the
checks that every parameter given to it is one of them and has the type it takes (its annotation's, else its
default's), so that a grid or ``--set`` mistake is found before a kernel starts."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from aelab.errors import AelabError, ConfigError


class ParameterError(AelabError, ValueError):
    """A parameter or a notebook named by a grid or the demo plan does not exist."""


@lru_cache(maxsize=None)
def _inspect(path: str, mtime: float) -> dict[str, dict[str, Any]]:
    import papermill

    return {name: dict(spec) for name, spec in papermill.inspect_notebook(path).items()}


def notebook_specs(notebook: str | Path) -> dict[str, dict[str, Any]]:
    """Papermill's view of ``notebook``'s parameters: per name its ``default`` (source text),
    ``inferred_type_name`` (the annotation, or ``"None"``) and ``help`` (the line's comment)."""
    path = Path(notebook)
    if not path.exists():
        raise ParameterError(f"notebook {path} not found")
    return {name: dict(spec) for name, spec in _inspect(str(path.resolve()), path.stat().st_mtime).items()}


def notebook_parameters(notebook: str | Path) -> dict[str, Any]:
    """Parameter names of ``notebook`` and their default values (as source text)."""
    return {name: spec.get("default") for name, spec in notebook_specs(notebook).items()}


def check_parameters(notebook: str | Path, names: Iterable[str], where: str) -> None:
    """Raise :class:`ParameterError` naming ``where`` (a file and key) unless every name is a parameter of
    ``notebook``."""
    known = notebook_parameters(notebook)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ParameterError(f"{where}: {', '.join(map(repr, unknown))} "
                             f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of "
                             f"{Path(notebook).name}; its parameters are: {', '.join(known)}")


# A type → (types a given value may have, how the expectation is written). ``bool`` is kept out of the numbers, as
# YAML ``true`` is not a count or a rate; an int is a number where a float is expected.
ACCEPTED: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"),
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    str: ((str,), "a string"),
    list: ((list, tuple), "a list"),
    tuple: ((list, tuple), "a list"),
    dict: ((dict,), "a mapping"),
    type(None): ((type(None),), "null"),
}
ANNOTATION_NAMES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str, "list": list,
                                     "tuple": tuple, "dict": dict, "None": type(None), "List": list,
                                     "Tuple": tuple, "Dict": dict}


def _literal(source: Any) -> tuple[bool, Any]:
    """``(True, value)`` when a default's source text is a plain literal, else ``(False, None)`` (an expression
    such as ``Path("runs")`` whose type cannot be known without running the cell)."""
    import ast

    try:
        return True, ast.literal_eval(str(source))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _annotated(text: str) -> set[type] | None:
    """The types an annotation such as ``int``, ``Optional[int]``, ``Union[str, list]`` or ``list[str]`` allows;
    None when it allows anything or is not understood (``Any``, a class of the notebook's own)."""
    import ast

    def walk(node: ast.AST) -> set[type] | None:
        if isinstance(node, ast.Constant) and node.value is None:
            return {type(None)}
        if isinstance(node, ast.Name):
            return {ANNOTATION_NAMES[node.id]} if node.id in ANNOTATION_NAMES else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            parts = [walk(node.left), walk(node.right)]
            return None if None in parts else set().union(*parts)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if node.value.id in ("Union", "Optional"):
                parts = [walk(item) for item in inner] + ([{type(None)}] if node.value.id == "Optional" else [])
                return None if None in parts else set().union(*parts)
            return walk(node.value)  # list[str] is a list
        return None

    try:
        return walk(ast.parse(text.strip().strip("\"'"), mode="eval").body)
    except SyntaxError:
        return None


def expected_types(notebook: str | Path, name: str) -> set[type] | None:
    """The types parameter ``name`` of ``notebook`` takes: those of its annotation in the ``parameters`` cell
    (``aux_layers: "Union[str, list]" = "auto"``) if it has one, else its default's; None for anything (a None
    default, an expression, an annotation not understood)."""
    spec = notebook_specs(notebook).get(name, {})
    annotation = str(spec.get("inferred_type_name") or "None")
    if annotation != "None":
        return _annotated(annotation)
    known, default = _literal(spec.get("default"))
    return {type(default)} if known and default is not None else None


def check_value(notebook: str | Path, name: str, value: Any, where: str) -> None:
    """Raise :class:`~aelab.errors.ConfigError` naming ``where`` (a file and key, or a command-line flag) unless
    ``value`` has a type parameter ``name`` of ``notebook`` takes (see :func:`expected_types`; an int is accepted
    where a float is, a list or tuple where either is). The name must be a parameter (:func:`check_parameters`)."""
    types = expected_types(notebook, name)
    if types is None:
        return
    ordered = sorted(types, key=lambda kind: (kind is type(None), kind.__name__))  # "… or null" last
    rules = [ACCEPTED.get(kind, ((kind,), f"a {kind.__name__}")) for kind in ordered]
    accepted = tuple(kind for kinds, _ in rules for kind in kinds)
    if isinstance(value, accepted) and (bool in accepted or not isinstance(value, bool)):
        return
    spec = notebook_specs(notebook)[name]
    declared = (f"declared {spec['inferred_type_name']}" if str(spec.get("inferred_type_name")) != "None"
                else f"default {spec.get('default')}")
    raise ConfigError(where, value, f"{' or '.join(wording for _, wording in rules)} ({type(value).__name__} "
                                    f"given; {Path(notebook).name}'s {name} has the {declared})")
