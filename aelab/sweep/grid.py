"""A sweep grid: a YAML file naming a notebook, fixed parameters, axes to vary (a product and/or a zip of lists),
seeds, the metrics to show and, optionally, the paper table to print next to them. Everything is checked when the
grid is read, so a mistake is reported before any point runs."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aelab.errors import AelabError
from aelab.sweep.parameters import check_parameters, check_value

PROJECT_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KEYS = {"description": str, "notebook": str, "output": str, "fixed": dict, "product": dict, "zip": dict,
        "seeds": list, "seed_parameter": str, "metrics": list, "scale": (int, float), "real_data": dict,
        "reference": dict}
REFERENCE_KEYS = {"table": str, "key": list, "columns": dict}


class GridError(AelabError, ValueError):
    """A grid file is malformed; the message names the file, the key and what was expected."""

    def __init__(self, path: str | Path, key: str, message: str):
        self.path, self.key = Path(path), key
        super().__init__(f"{self.path}: {key}: {message}")


@dataclass(frozen=True)
class Point:
    """One run of the notebook: its position in the grid, every parameter it gets, and its axis values."""

    index: int
    parameters: dict[str, Any]
    axes: dict[str, Any]  # the varied values, seed excluded: the row it is averaged into
    seed: Any

    @property
    def name(self) -> str:
        """Folder name: ``0003-arch=afi-seed=1`` (shortened, file-system safe)."""
        parts = [f"{k}={_slug(v)}" for k, v in self.axes.items()] + ([f"seed={self.seed}"] if self.seed is not None
                                                                     else [])
        return f"{self.index:04d}-" + "-".join(parts)[:96] if parts else f"{self.index:04d}"


def _slug(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(r"[^A-Za-z0-9.,_+]+", "_", text) or "_"


@dataclass
class Grid:
    """A validated grid (see ``docs/batch_runs.md`` for the file format)."""

    source: Path
    notebook: Path
    output: Path
    fixed: dict[str, Any] = field(default_factory=dict)
    product: dict[str, list] = field(default_factory=dict)
    zip: dict[str, list] = field(default_factory=dict)
    seeds: list[Any] = field(default_factory=lambda: [None])
    seed_parameter: str = "seed"
    metrics: list[str] = field(default_factory=list)
    scale: float = 1.0
    reference: dict[str, Any] | None = None
    description: str = ""

    @property
    def axis_names(self) -> list[str]:
        return [*self.product, *self.zip]

    def points(self) -> list[Point]:
        """Every point: the product axes' combinations × the zip axes' rows × the seeds, in that nesting order."""
        combos = [dict(zip(self.product, values)) for values in itertools.product(*self.product.values())]
        rows = [dict(zip(self.zip, values)) for values in zip(*self.zip.values())] if self.zip else [{}]
        points = []
        for combo in combos:
            for row in rows:
                for seed in self.seeds:
                    axes = {**combo, **row}
                    seeded = {} if seed is None else {self.seed_parameter: seed}
                    points.append(Point(len(points), {**self.fixed, **axes, **seeded}, axes, seed))
        return points

    def to_dict(self) -> dict[str, Any]:
        """The grid as resolved (absolute notebook, real-data settings merged into ``fixed``), saved beside the
        points as ``grid.yaml`` so that ``--collect`` needs only the output folder."""
        values = {"description": self.description, "notebook": str(self.notebook), "output": str(self.output),
                  "fixed": self.fixed, "product": self.product, "zip": self.zip, "seeds": self.seeds,
                  "seed_parameter": self.seed_parameter, "metrics": self.metrics, "scale": self.scale}
        if self.reference:
            values["reference"] = self.reference
        return values


def _expect(path: Path, key: str, value: Any, kind: Any, what: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise GridError(path, key, f"expected {what}, got {type(value).__name__} {value!r}")


def _find_notebook(path: Path, name: str) -> Path:
    for candidate in (path.parent / name, PROJECT_NOTEBOOKS / name):
        if candidate.exists():
            return candidate.resolve()
    raise GridError(path, "notebook", f"{name!r} not found next to the grid or in {PROJECT_NOTEBOOKS}")


def _axes(path: Path, key: str, values: dict) -> dict[str, list]:
    for name, axis in values.items():
        _expect(path, f"{key}.{name}", axis, list, "a list of values to vary")
        if not axis:
            raise GridError(path, f"{key}.{name}", "expected a non-empty list of values to vary, got []")
    return dict(values)


def grid_from_dict(values: Any, path: str | Path, root: str | None = None, data: str | None = None,
                   output: str | Path | None = None) -> Grid:
    """Validate the parsed YAML ``values`` of grid file ``path``; ``root`` (and ``data``) switch to real data with
    the grid's ``real_data`` settings; ``output`` replaces the grid's output folder."""
    path = Path(path)
    _expect(path, "(top level)", values, dict, "a mapping with keys notebook, fixed, product, zip, seeds, …")
    for key, value in values.items():
        if key not in KEYS:
            raise GridError(path, key, f"unknown key; expected one of: {', '.join(KEYS)}")
        _expect(path, key, value, KEYS[key], f"a {getattr(KEYS[key], '__name__', 'number')}")
    if "notebook" not in values:
        raise GridError(path, "notebook", "missing; name the notebook to run, e.g. 01_train_multitask.ipynb")
    notebook = _find_notebook(path, values["notebook"])
    fixed = dict(values.get("fixed", {}))
    origin = {name: f"fixed.{name}" for name in fixed}  # where each fixed value was written, for messages
    if root is not None or data is not None:
        fixed.update(values.get("real_data", {}))
        origin.update({name: f"real_data.{name}" for name in values.get("real_data", {})})
        given = {k: v for k, v in (("root", root), ("data", data)) if v is not None}
        fixed.update(given)
        origin.update({name: f"--{name}" for name in given})
    product, zipped = _axes(path, "product", values.get("product", {})), _axes(path, "zip", values.get("zip", {}))
    lengths = {name: len(axis) for name, axis in zipped.items()}
    if len(set(lengths.values())) > 1:
        raise GridError(path, "zip", "expected lists of one length (they are zipped), got lengths "
                        + ", ".join(f"{k}: {n}" for k, n in lengths.items()))
    seed_parameter = values.get("seed_parameter", "seed")
    seeds = values.get("seeds", [None])
    if not seeds:
        raise GridError(path, "seeds", "expected a non-empty list of seeds")
    places = {"fixed": list(fixed), "product": list(product), "zip": list(zipped)}
    if seeds != [None]:
        places["seeds"] = [seed_parameter]
    seen: dict[str, str] = {}
    for place, names in places.items():
        for name in names:
            if name in seen and not (place == "fixed" and seen[name] == "fixed"):
                raise GridError(path, f"{place}.{name}", f"also set in {seen[name]}; give each parameter one place")
            seen[name] = place
    for place, names in places.items():
        check_parameters(notebook, names, f"{path}: {place}")
    _check_types(path, notebook, fixed, origin, {"product": product, "zip": zipped},
                 {seed_parameter: seeds} if seeds != [None] else {})
    reference = values.get("reference")
    if reference is not None:
        _check_reference(path, reference)
    metrics = values.get("metrics", [])
    for i, metric in enumerate(metrics):
        _expect(path, f"metrics[{i}]", metric, str, "a dotted metric name or pattern such as test.*.accuracy")
    chosen = Path(output or values.get("output", Path("runs") / "sweeps" / path.stem))
    if (root is not None or data is not None) and output is None:  # real-data points apart from SynthAE ones
        chosen = chosen.with_name(f"{chosen.name}-{fixed.get('data', 'real')}")
    return Grid(source=path.resolve(), notebook=notebook, output=chosen,
                fixed=fixed, product=product, zip=zipped, seeds=list(seeds), seed_parameter=seed_parameter,
                metrics=list(metrics), scale=float(values.get("scale", 1.0)), reference=reference,
                description=values.get("description", ""))


def _check_types(path: Path, notebook: Path, fixed: dict[str, Any], origin: dict[str, str],
                 axes: dict[str, dict[str, list]], seeds: dict[str, list]) -> None:
    """Every value the points get has the type of the notebook's default for it (see
    :func:`~aelab.sweep.parameters.check_value`): found when the grid is read, not in a kernel later."""
    for name, value in fixed.items():
        check_value(notebook, name, value, f"{path}: {origin.get(name, f'fixed.{name}')}")
    for place, values in axes.items():
        for name, axis in values.items():
            for i, value in enumerate(axis):
                check_value(notebook, name, value, f"{path}: {place}.{name}[{i}]")
    for name, axis in seeds.items():
        for i, value in enumerate(axis):
            check_value(notebook, name, value, f"{path}: seeds[{i}] (parameter {name})")


def _check_reference(path: Path, reference: dict) -> None:
    from aelab import reference as papers

    for key, value in reference.items():
        if key not in REFERENCE_KEYS:
            raise GridError(path, f"reference.{key}", f"unknown key; expected one of: {', '.join(REFERENCE_KEYS)}")
        _expect(path, f"reference.{key}", value, REFERENCE_KEYS[key], f"a {REFERENCE_KEYS[key].__name__}")
    for key in REFERENCE_KEYS:
        if key not in reference:
            raise GridError(path, f"reference.{key}", "missing; a reference needs table, key and columns")
    if not isinstance(getattr(papers, reference["table"], None), dict):
        known = [name for name in dir(papers) if name.startswith("PAPER_")]
        raise GridError(path, "reference.table", f"{reference['table']!r} is not in aelab/reference.py; "
                        f"expected one of: {', '.join(known)}")


def load_grid(path: str | Path, root: str | None = None, data: str | None = None,
              output: str | Path | None = None) -> Grid:
    """Read and validate grid file ``path`` (see :func:`grid_from_dict`)."""
    import yaml

    path = Path(path)
    if path.is_dir():
        path = path / "grid.yaml"
    if not path.exists():
        raise GridError(path, "(file)", "not found")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise GridError(path, "(YAML)", f"cannot be parsed: {error}") from None
    return grid_from_dict(values, path, root=root, data=data, output=output)
