"""No import cycle between the packages of aelab.

Every module's imports are read with ``ast``: those at module level and those inside functions (a lazy import still
makes one package depend on another, it only defers when), and those under ``if TYPE_CHECKING:`` (a type-only
dependency is still a dependency of the design). Each import becomes an edge between package-level nodes: a
subpackage (``aelab.data``, ``aelab.models``, ``aelab.train`` …) is one node, each top-level module
(``aelab.io``, ``aelab.load``, ``aelab.notebook`` …) its own node, ``aelab/__init__.py`` the node ``aelab``.
Imports inside one node are not edges. The graph must have no cycle; a failure names one cycle with the file and
line of each import on it.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aelab

PACKAGE_ROOT = Path(aelab.__file__).parent


@dataclass(frozen=True)
class Site:
    """Where one import is written."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.as_posix()}:{self.line}"


def module_name(path: Path, root: Path) -> str:
    """``aelab/sweep/report.py`` → ``aelab.sweep.report``; a package's ``__init__.py`` → the package."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def node_of(module: str, root_name: str) -> str:
    """The package-level node of a module: ``aelab.X`` (a subpackage or a top-level module), or ``aelab``."""
    return ".".join(module.split(".")[:2]) if module.startswith(root_name + ".") else root_name


def imported_modules(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[tuple[str, int]]:
    """``(imported module, line)`` for every import anywhere in ``tree`` (``from p import m`` counts ``p.m``
    when ``m`` is a module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in known else base), node.lineno


def package_graph(root: Path) -> dict[tuple[str, str], list[Site]]:
    """Edges ``(from node, to node)`` between the package-level nodes of the package at ``root``, each with the
    places its imports are written."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(path, root): path for path in files}
    edges: dict[tuple[str, str], list[Site]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        source = node_of(module, root.name)
        for target, line in imported_modules(tree, module, path.name == "__init__.py", set(modules)):
            if target != root.name and not target.startswith(root.name + "."):
                continue
            destination = node_of(target, root.name)
            if destination != source:
                edges.setdefault((source, destination), []).append(Site(path.relative_to(root.parent), line))
    return edges


def find_cycles(edges: dict[tuple[str, str], list[Site]]) -> list[list[str]]:
    """One cycle ``[a, b, …, a]`` in each group of nodes that reach one another; [] when the graph has none."""
    successors: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        successors.setdefault(a, []).append(b)

    def reachable(start: str) -> set[str]:
        seen, stack = set(), [start]
        while stack:
            for nxt in successors.get(stack.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    reach = {node: reachable(node) for node in successors}
    cycles, covered = [], set()
    for start in sorted(successors):
        if start in covered or start not in reach[start]:
            continue
        group = {n for n in reach[start] if start in reach.get(n, set())}
        covered |= group
        parents: dict[str, str | None] = {start: None}  # breadth first inside the group: a shortest cycle
        queue = deque([start])
        while start not in successors.get(queue[0], []):
            node = queue.popleft()
            for nxt in successors.get(node, []):
                if nxt in group and nxt not in parents:
                    parents[nxt] = node
                    queue.append(nxt)
        path, node = [], queue[0]
        while node is not None:
            path.insert(0, node)
            node = parents[node]
        cycles.append(path + [start])
    return cycles


def describe(cycles: list[list[str]], edges: dict[tuple[str, str], list[Site]]) -> str:
    """Each cycle as ``a → b → a`` with the first place each of its imports is written."""
    lines = [f"{len(cycles)} import cycle(s) between packages of aelab:"]
    for cycle in cycles:
        lines.append("  " + " → ".join(cycle))
        lines += [f"    {a} → {b}: {edges[a, b][0]}" for a, b in zip(cycle, cycle[1:])]
    return "\n".join(lines)


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_lazy_import_closing_a_loop_is_a_cycle(tmp_path):
    root = write_package(tmp_path / "pkg", {
        "__init__.py": "",
        "low/__init__.py": "",
        "low/a.py": "def f():\n    from pkg.high.b import g\n",
        "high/__init__.py": "",
        "high/b.py": "from ..low import a\n",
        "tool.py": "import pkg.low.a\n",
    })
    edges = package_graph(root)
    assert set(edges) == {("pkg.low", "pkg.high"), ("pkg.high", "pkg.low"), ("pkg.tool", "pkg.low")}
    assert edges["pkg.low", "pkg.high"] == [Site(Path("pkg/low/a.py"), 2)]
    assert find_cycles(edges) == [["pkg.high", "pkg.low", "pkg.high"]]
    assert "pkg.low → pkg.high: pkg/low/a.py:2" in describe(find_cycles(edges), edges)


def test_imports_within_one_package_and_one_way_are_no_cycle(tmp_path):
    root = write_package(tmp_path / "pkg", {
        "__init__.py": "from pkg import tool\n",
        "low/__init__.py": "from .a import f\n",
        "low/a.py": "from pkg.low import b\nfrom . import b as c\n",
        "low/b.py": "",
        "tool.py": "from pkg.low import f\nfrom pkg import low\n",
    })
    edges = package_graph(root)
    assert set(edges) == {("pkg", "pkg.tool"), ("pkg.tool", "pkg.low")}
    assert find_cycles(edges) == []


def test_no_import_cycle_between_packages_of_aelab():
    edges = package_graph(PACKAGE_ROOT)
    assert ("aelab.train", "aelab.models") in edges  # the walk sees the package's imports
    cycles = find_cycles(edges)
    assert not cycles, describe(cycles, edges)
