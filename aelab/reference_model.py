"""The SynthAE reference run shipped with aelab, and how it measures against the ceiling.

``reference_run()`` gives the folder of a two-branch AFI network (paper 000, docs/science.md §3) on the tiny backbone,
trained once on SynthAE by ``scripts/train_reference.py`` with the committed recipe
(``aelab/assets/reference_recipe.yaml``). It is an ordinary run folder (``config.yaml``, ``metrics.csv``,
``results.json``, ``checkpoints/best.pt``), so it works wherever a run does: :func:`aelab.load_run`,
:func:`aelab.predict`, the explorer and the notebooks' ``run`` parameter. The package's copy is never written to:
the folder returned is a copy in the user's cache (``$AELAB_CACHE``, else ``$XDG_CACHE_HOME/aelab``, else
``~/.cache/aelab``), made on first use, where atlases and other per-run caches can be kept.

``python -m aelab.reference_model`` prints the table majority / oracle / reference (/ any other runs) on a fresh
SynthAE split that the training never saw (another seed), with each model's share of the learnable gap
``(model − majority) / (oracle − majority)`` (:mod:`aelab.data.synthetic.ceiling`).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from aelab.errors import AelabError, ConfigError
from aelab.run_folder import ATLAS_FOLDER

ASSETS = "assets"
RUN_FOLDER = "reference_run"
BASELINE_FOLDER = "reference_baseline_run"
"""The single-task baseline trained with the same recipe (``arch: single``): paper 000 Fig. 5's other side."""
RECIPE_FILE = "reference_recipe.yaml"
RUN_FILES = ("config.yaml", "metrics.csv", "results.json", "checkpoints/best.pt")
"""What a shipped run holds (the checkpoint keeps the model's weights only)."""
FRESH_SEED = 20240
"""SynthAE seed of the fresh test images: a set the recipe (seed 0) never draws from."""
TABLE_TASKS = ("aesthetic", "emotion")


def _asset(name: str) -> Path:
    path = Path(str(resources.files("aelab") / ASSETS / name))
    if not path.exists():
        raise AelabError(f"{path} is missing from the installed aelab package: reinstall aelab "
                         f"(pip install .) or retrain it with scripts/train_reference.py")
    return path


def recipe_path() -> Path:
    """The committed recipe of the reference run."""
    return _asset(RECIPE_FILE)


def _recipe(path: str | Path | None) -> dict[str, Any]:
    path = Path(path) if path is not None else recipe_path()
    values = yaml.safe_load(path.read_text())
    if not isinstance(values, dict) or not isinstance(values.get("config"), dict):
        raise ConfigError(f"{path}: config", values, "a mapping of training parameters under the key 'config'")
    threads = values.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"{path}: threads", threads, "a whole number of CPU threads, at least 1")
    return values


def reference_recipe(path: str | Path | None = None, **overrides: Any) -> Any:
    """The recipe (default: the committed one) as a :class:`~aelab.train.TrainConfig`; ``overrides``: e.g.
    ``output``, ``progress``."""
    from aelab.train import TrainConfig

    return TrainConfig.from_dict({**_recipe(path)["config"], **overrides})


def recipe_threads(path: str | Path | None = None) -> int:
    """CPU threads the recipe trains with (part of what makes its weights reproducible)."""
    return int(_recipe(path).get("threads", 1))


def cache_root() -> Path:
    """Where per-user copies of shipped runs live."""
    if os.environ.get("AELAB_CACHE"):
        return Path(os.environ["AELAB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aelab"


def _shipped_files(folder: Path) -> list[Path]:
    """The run's files and its pre-rendered atlas files (the explorer's first layer), relative to ``folder``."""
    atlases = sorted(path.relative_to(folder) for path in (folder / ATLAS_FOLDER).rglob("*") if path.is_file())
    return [Path(name) for name in RUN_FILES] + atlases


@functools.cache  # the package's files do not change while a process runs: read their 5.5 MB once, not per call
def _digest(folder: Path) -> str:
    hasher = hashlib.sha256()
    for name in _shipped_files(folder):
        hasher.update(str(name).encode() + b"\0" + (folder / name).read_bytes())
    return hasher.hexdigest()[:12]


def shipped_run_folder(name: str = RUN_FOLDER) -> Path:
    """A run folder inside the package, :data:`RUN_FOLDER` or :data:`BASELINE_FOLDER` (read-only by convention;
    use :func:`reference_run` or :func:`reference_baseline_run`)."""
    folder = _asset(name)
    missing = [file for file in RUN_FILES if not (folder / file).exists()]
    if missing:
        how = "scripts/train_reference.py --baseline" if name == BASELINE_FOLDER else "scripts/train_reference.py"
        raise AelabError(f"{folder} lacks {', '.join(missing)}: reinstall aelab or retrain the reference run "
                         f"with {how}")
    return folder


def reference_run() -> Path:
    """The shipped SynthAE reference run as a writable run folder (a cached copy of the package's, made once)."""
    return _cached_copy(RUN_FOLDER)


def reference_baseline_run() -> Path:
    """The shipped single-task baseline of the reference run (the same recipe with ``arch: single``: one tiny
    network per task) as a writable run folder: what paper 000 Fig. 5 compares the multi-task maps with."""
    return _cached_copy(BASELINE_FOLDER)


def baseline_of(run: str | Path) -> Path | None:
    """The shipped single-task baseline (:func:`reference_baseline_run`) when ``run`` is the reference run — the
    package's folder or any copy of it, known by its weights — else None: another run has no shipped twin."""
    weights = Path(run) / RUN_FILES[-1]
    shipped = shipped_run_folder(RUN_FOLDER) / RUN_FILES[-1]
    if not weights.is_file() or weights.stat().st_size != shipped.stat().st_size:
        return None
    return reference_baseline_run() if weights.read_bytes() == shipped.read_bytes() else None


def _cached_copy(name: str) -> Path:
    source = shipped_run_folder(name)
    target = cache_root() / f"{name}-{_digest(source)}"
    if (target / RUN_FILES[-1]).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    for file in _shipped_files(source):
        (staging / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / file, staging / file)
    try:
        os.replace(staging, target)
    except OSError:  # another process made it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def ship_run(folder: str | Path, destination: str | Path | None = None, name: str = RUN_FOLDER) -> Path:
    """Copy a trained run into the package's assets (``destination``, default the package's ``name`` folder):
    config, metrics, results and a weights-only ``best.pt``."""
    from aelab.load import run_checkpoint
    from aelab.train.runs import load_checkpoint, save_checkpoint

    folder = Path(folder)
    target = Path(destination) if destination is not None else Path(__file__).parent / ASSETS / name
    shutil.rmtree(target / ATLAS_FOLDER, ignore_errors=True)  # rendered from the weights being replaced
    (target / "checkpoints").mkdir(parents=True, exist_ok=True)
    for file in RUN_FILES[:-1]:
        shutil.copyfile(folder / file, target / file)
    state = load_checkpoint(run_checkpoint(folder, "best"))
    save_checkpoint({"model": state["model"], "epoch": state["epoch"], "config": state["config"]},
                    target / RUN_FILES[-1])
    return target


# ---- measuring against the ceiling ---------------------------------------------------------------------------


def fresh_accuracy(run: Any, n: int = 2000, seed: int = FRESH_SEED, batch_size: int = 250) -> dict[str, float]:
    """Accuracy per task (aesthetic, emotion) of a run on ``n`` fresh SynthAE images drawn with ``seed``."""
    from aelab.data.synthetic import SynthAE
    from aelab.load import load_run

    loaded = load_run(run, device="cpu")
    tasks = [t for t in loaded.config["tasks"] if t in TABLE_TASKS]
    data = SynthAE(n, size=int(loaded.config["image_size"]), seed=seed)
    transform = loaded.eval_transform()
    outputs: dict[str, list[torch.Tensor]] = {t: [] for t in tasks}
    with torch.no_grad():
        for start in range(0, n, batch_size):
            images = torch.stack([transform(data.render(i)) for i in range(start, min(n, start + batch_size))])
            logits = loaded.model(images)
            for task in tasks:
                outputs[task].append(logits[task])
    accuracy = {}
    for task in tasks:
        logits = torch.cat(outputs[task])
        predicted = (logits > 0).long() if logits.dim() == 1 else logits.argmax(dim=1)
        accuracy[task] = float((predicted.numpy() == data.label_array(task)).mean())
    return accuracy


def ceiling_table(runs: Mapping[str, Any], n: int = 2000, seed: int = FRESH_SEED) -> list[dict[str, Any]]:
    """Rows majority / oracle / one per run: accuracy (%) per task and the share of the learnable gap (%)."""
    from aelab.data.synthetic import SynthAE
    from aelab.data.synthetic.ceiling import ceiling, gap_share

    bounds = ceiling(SynthAE(n, seed=seed), TABLE_TASKS)
    rows = [{"model": name, **{f"{t} %": 100 * bounds[t][name] for t in TABLE_TASKS}}
            for name in ("majority", "oracle")]
    for name, run in runs.items():
        accuracy = fresh_accuracy(run, n, seed)
        row: dict[str, Any] = {"model": name}
        for task in TABLE_TASKS:
            value = accuracy.get(task, float("nan"))
            row[f"{task} %"] = 100 * value
            row[f"{task} gap %"] = 100 * gap_share(value, bounds[task]["majority"], bounds[task]["oracle"])
        rows.append(row)
    return rows


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of :func:`ceiling_table` rows."""
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.1f}"
        return "" if value is None else str(value)

    width = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(width[c]) for c in columns)]
    lines += ["  ".join(cell(r.get(c)).ljust(width[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m aelab.reference_model [--n N] [--seed S] [--run NAME=FOLDER ...]``: print the table. A folder
    that is not a run, or another user error, is one line on stderr and exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m aelab.reference_model", description=main.__doc__)
    parser.add_argument("--n", type=int, default=2000, help="fresh SynthAE test images (default 2000)")
    parser.add_argument("--seed", type=int, default=FRESH_SEED, help="their SynthAE seed")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=FOLDER",
                        help="another run to compare (e.g. notebook 01's), repeatable")
    args = parser.parse_args(argv)
    runs: dict[str, Any] = {"reference": reference_run()}
    for item in args.run:
        name, _, folder = item.partition("=")
        if not folder:
            parser.error(f"--run: expected NAME=FOLDER, got {item!r}")
        runs[name] = folder
    if args.n < 1:
        parser.error(f"--n: expected at least 1 fresh image, got {args.n}")
    if args.seed < 0:
        parser.error(f"--seed: expected a SynthAE seed >= 0, got {args.seed}")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        print(format_table(ceiling_table(runs, args.n, args.seed)))
    except AelabError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


if __name__ == "__main__":
    main()
