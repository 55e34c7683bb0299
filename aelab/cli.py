"""The ``aelab`` command: ``demo`` (the main job), ``sweep``, ``train``, ``predict``, ``explain``, ``evaluate``,
``cache``, ``preview``, ``export`` and ``lab``. A user error prints one line, ``aelab <command>: error: …``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib.util
import secrets
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aelab.errors import AelabError, ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = PROJECT_ROOT / "notebooks"


def _assignments(values: list[str], flag: str) -> dict[str, dict]:
    """``["02_activation_maximisation.steps=32", …]`` → ``{"02_activation_maximisation": {"steps": 32}}``
    (values are YAML)."""
    import yaml

    parsed: dict[str, dict] = {}
    for item in values:
        target, sep, value = item.partition("=")
        stem, dot, name = target.rpartition(".")
        if not sep or not dot or not stem or not name:
            raise AelabError(f"{flag} {item!r}: expected NOTEBOOK.PARAMETER=VALUE, "
                             "e.g. 02_activation_maximisation.steps=32")
        parsed.setdefault(stem.removesuffix(".ipynb"), {})[name] = yaml.safe_load(value)
    return parsed


def run_notebook(notebook: Path, folder: Path, parameters: dict) -> Path:
    """Execute ``notebook`` headless with papermill into ``folder/<notebook name>/``, where its figures and
    results.json land next to the executed copy; raise with the failing cell and error if it fails."""
    from aelab.sweep.execute import execute_notebook

    if not notebook.exists():
        raise AelabError(f"notebook {notebook} not found; run aelab from a clone of the repository")
    status = execute_notebook(notebook, folder / notebook.stem, parameters, executed_name=notebook.name)
    if not status.ok:
        raise AelabError(f"{notebook.name} failed at {status.error.describe()}")
    return folder / notebook.stem / notebook.name


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo notebooks headless in a chain, write the HTML report and print its path."""
    from aelab.report import DemoFailed, DemoOptions, run_demo, write_report
    from aelab.train.runs import new_run_folder

    options = DemoOptions(quick=args.quick, n=args.n, overrides=_assignments(args.set, "--set"),
                          passthrough={"data": args.data, "root": args.root, "backbone": args.backbone,
                                       "weights": args.weights, "seed": args.seed})
    folder = new_run_folder("demo", args.runs)
    print(f"[demo] writing to {folder.resolve()}", flush=True)
    try:
        outcomes = run_demo(folder, NOTEBOOKS, options, say=functools.partial(print, flush=True))
    except DemoFailed as error:
        report = write_report(folder, error.outcomes, failure=str(error))
        print(f"aelab demo: error: {error}\n[demo] partial report: {report.resolve()}", file=sys.stderr)
        return 1
    report = write_report(folder, outcomes)
    print(f"[demo] report: {report.resolve()}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run, list or collect a grid of notebook runs (see docs/batch_runs.md)."""
    from aelab.sweep import collect, load_grid, print_commands, run_point
    from aelab.sweep.executors import ExecutorOptions, execute_points
    from aelab.sweep.runner import is_done, point_folder, save_grid

    if bool(args.grid) == bool(args.collect):
        raise AelabError("give a grid file (aelab sweep GRID.yaml) or --collect DIR, not both or neither")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs", args.jobs, "a positive number of points at once")
    if args.collect:
        return _show_collected(collect(load_grid(Path(args.collect) / "grid.yaml")))
    grid = load_grid(args.grid, root=args.root, data=args.data, output=args.output)
    points = grid.points()
    if args.point is not None:
        if not 0 <= args.point < len(points):
            raise AelabError(f"--point {args.point}: the grid has points 0 to {len(points) - 1}")
        point = points[args.point]
        if is_done(grid, point) and not args.force:
            print(f"[sweep] {point.name}: ok already, skipped (--force runs it again)")
            return 0
        save_grid(grid)
        status = run_point(grid, point)
        print(f"[sweep] {point.name}: {status.status}" + (f" at {status.error.describe()}" if status.error else "")
              + f" → {point_folder(grid, point)}")
        return 0 if status.ok else 1
    if args.print_commands:
        print("\n".join(print_commands(grid, points)))
        return 0
    if args.dry_run:
        for point in points:
            state = "ok, skipped" if is_done(grid, point) else "to run"
            print(f"{point.index:4d}  {point.name}  ({state})  {point.parameters}")
        print(f"{len(points)} points of {grid.notebook.name} → {grid.output}")
        return 0
    executor = args.executor or ("dask" if args.scheduler else "local")
    execute_points(executor, grid, points, ExecutorOptions(args.jobs, args.scheduler))
    return _show_collected(collect(grid))


def _show_collected(collected) -> int:
    """Write and print the table (next to the paper's numbers) and the failures; 1 when a point is not ok."""
    from aelab.sweep.report import markdown, write_outputs

    written = write_outputs(collected)
    print(markdown(collected))
    print("\n".join(f"[sweep] {name}: {path.resolve()}" for name, path in written.items()))
    return 1 if collected.failures else 0

def _read_config_file(path: str) -> dict[str, Any]:
    """The mapping of training parameters in the YAML file ``path`` (an empty file: none); one-line errors."""
    import yaml

    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise AelabError(f"--config {path}: cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise AelabError(f"--config {path}: not a text file; expected a YAML file of training parameters") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "it cannot be parsed"
        raise AelabError(f"--config {path}{where}: not valid YAML ({problem})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise AelabError(f"--config {path}: holds a YAML {type(values).__name__}; expected a mapping of training "
                         "parameters, one 'name: value' per line (e.g. 'epochs: 10')")
    return values


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def _as_given(error: ConfigError, sources: dict[str, str]) -> ConfigError:
    """``error`` with its parameter named as the user gave it (``sources``: parameter → flag, or file: key)."""
    where = sources.get(error.parameter)
    return error if where is None else ConfigError(where, error.given, error.expected)


def cmd_train(args: argparse.Namespace) -> int:
    """Train as the flags (and an optional YAML file of parameters) say; print the run folder and test metrics."""
    from aelab.train.config import TrainConfig
    from aelab.train.trainer import fit

    from_file = _read_config_file(args.config) if args.config else {}
    flags = {name: getattr(args, name) for name in _config_fields() if getattr(args, name) is not None}
    sources = {name: _flag(name) for name in _config_fields()}
    sources.update({name: f"{args.config}: {name}" for name in [*from_file, "training parameter"] if name not in flags})
    try:
        config = TrainConfig.from_dict({**from_file, **flags})
    except ConfigError as error:
        raise _as_given(error, sources) from None
    # on resume the run keeps its own epoch count unless --epochs (or the config file) names one
    epochs = {"epochs": config.epochs} if "epochs" in flags or "epochs" in from_file else {}
    run = fit(config, resume=args.resume, **epochs)
    if run.results:
        print(f"run folder: {run.folder.resolve()}")
        for task, metrics in run.results.get("test", {}).get("metrics", {}).items():
            shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
            print(f"test {task}: {shown}")
    return 0


def _check_sort(run: str, task: str | None) -> None:
    """``--sort`` names a task the run predicts (checked before predicting)."""
    from aelab.train.runs import read_config

    if task is None:
        return
    names = [t if isinstance(t, str) else t.get("name") for t in read_config(run).get("tasks", [])]
    if task not in names:
        raise ConfigError("--sort", task, f"one of the run's tasks: {', '.join(map(str, names))}")


PREDICT_FLAGS = {"batch_size": "--batch-size", "checkpoint": "--checkpoint", "device": "--device", "paths": "PATHS"}


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict every task for image files or folders with a trained run; CSV or JSON table."""
    from aelab.prediction import check_output_path, predict

    output = check_output_path(args.output, "--output") if args.output else None
    _check_sort(args.run, args.sort)
    try:
        with warnings_as_lines("predict"):
            result = predict(args.run, args.paths, batch_size=args.batch_size, device=args.device,
                             checkpoint=args.checkpoint, progress=not args.quiet)
    except ConfigError as error:
        raise _as_given(error, PREDICT_FLAGS) from None
    if args.sort:
        result = result.sorted_by(args.sort)
    if output is not None:
        result.save(output, args.format)
    elif args.format == "json":
        print(result.to_json())
    else:
        result.write_csv(sys.stdout)
    for error in result.errors:
        print(f"unreadable: {error['path']} ({error['error']})", file=sys.stderr)
    if output is not None:
        print(f"{len(result.rows)} predictions written to {output.resolve()}", file=sys.stderr)
    return 0


@contextlib.contextmanager
def warnings_as_lines(command: str) -> Iterator[None]:
    """Inside the block, each warning is printed at once as one line ``aelab <command>: warning: …`` on stderr."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"aelab {command}: warning: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


EXPLAIN_FLAGS = {"layer": "--layer", "task": "--task", "output": "--output", "size": "--size", "n_groups": "--groups",
                 "device": "--device", "checkpoint": "--checkpoint", "photos": "PHOTO"}


def _explain_layers(values: list[str] | None) -> str | dict[str, str] | None:
    """``--layer L`` (every task) or ``--layer TASK=L`` once per task → :func:`aelab.viz.explain.explain`'s layer."""
    if not values:
        return None
    pairs = dict(value.split("=", 1) for value in values if "=" in value)
    plain = [value for value in values if "=" not in value]
    if plain and (len(plain) > 1 or pairs):
        raise ConfigError("--layer", values, "one layer for every task, or TASK=LAYER once per task")
    return plain[0] if plain else pairs


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain photographs with a trained run: one figure (PNG) and one JSON of the numbers per photo."""
    from aelab.viz.explain import DEFAULT_SETTINGS, explain

    steps = DEFAULT_SETTINGS.steps if args.atlas_steps is None else args.atlas_steps
    if steps < 1:
        raise ConfigError("--atlas-steps", steps, "an integer >= 1")
    try:
        with warnings_as_lines("explain"):
            result = explain(args.run, args.photos, layer=_explain_layers(args.layer), task=args.task,
                             output=args.output, size=args.size, n_groups=args.groups, device=args.device,
                             settings=dataclasses.replace(DEFAULT_SETTINGS, steps=steps),
                             checkpoint=args.checkpoint, progress=not args.quiet)
    except ConfigError as error:
        raise _as_given(error, EXPLAIN_FLAGS) from None
    for explained in result.photos:
        print(f"{explained.path}: {explained.png.resolve()} and {explained.json.name}")
    for error in result.errors:
        print(f"unreadable: {error['error']}", file=sys.stderr)
    if not result.photos:
        raise AelabError(f"none of the {len(result.errors)} photos could be read")
    return 0


def _config_fields() -> dict[str, dataclasses.Field]:
    from aelab.train.config import TrainConfig

    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def _yaml_value(text: str) -> Any:
    """A flag value read as YAML (argparse reports a value that is not YAML)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"not valid YAML: {text!r}") from None


def _flag_type(annotation: Any) -> Any:
    """The argparse type of a TrainConfig field: int/float/str as annotated (``X | None``: X); bool, dict,
    list and tuple fields are handled by the caller."""
    if isinstance(annotation, types.UnionType):
        annotation = next(k for k in typing.get_args(annotation) if k is not type(None))
    return annotation if annotation in (int, float, str) else None


class _BranchSources(argparse.Action):
    """``--init BRANCH=SOURCE``, repeatable, gathered into ``{BRANCH: SOURCE}``."""

    def __call__(self, parser, namespace, value, option_string=None):
        branch, sep, source = value.partition("=")
        if not sep or not branch or not source:
            parser.error(f"{option_string} {value!r}: expected BRANCH=RUN_FOLDER_OR_STATE_DICT, "
                         "e.g. --init aesthetic=runs/aesthetic/RUN")
        sources = dict(getattr(namespace, self.dest) or {})
        if branch in sources:
            parser.error(f"{option_string} names the branch {branch!r} twice")
        setattr(namespace, self.dest, {**sources, branch: source})


def _add_init_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--init", dest="init", action=_BranchSources, default=None, metavar="BRANCH=RUN",
                        help="start a branch/stream from a trained run's backbone or a state-dict file; "
                             "repeatable: --init aesthetic=RUN_A --init emotion=RUN_E")


SPECIAL_CONFIG_FLAGS = {"init": _add_init_flag}
"""TrainConfig fields whose flag is not the generic one of :func:`_add_config_flags`."""


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field; dict and list fields take YAML (e.g. --model-options '{reduction: 8}')."""
    from aelab.train.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    for name, spec in _config_fields().items():
        if name in SPECIAL_CONFIG_FLAGS:
            SPECIAL_CONFIG_FLAGS[name](parser)
            continue
        default = spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()
        kind = _flag_type(hints[name])
        if isinstance(default, bool):
            parser.add_argument(_flag(name), dest=name, default=None, action=argparse.BooleanOptionalAction,
                                help=f"(default {default})")
        elif kind is None:
            parser.add_argument(_flag(name), dest=name, type=_yaml_value, default=None,
                                help=f"YAML (default {default})")
        else:
            parser.add_argument(_flag(name), dest=name, type=kind, default=None, help=f"(default {default})")


def _at_least(args: argparse.Namespace, minimum: int, *names: str) -> None:
    """Each integer flag ``names`` is at least ``minimum``."""
    for name in names:
        if getattr(args, name) < minimum:
            raise ConfigError(_flag(name), getattr(args, name), f"an integer >= {minimum}")


SYNTHAE_MIN_SIZE = 16  # smallest image side SynthAE draws


def cmd_preview(args: argparse.Namespace) -> int:
    """Save a labelled grid of SynthAE samples."""
    from aelab.data.synthetic import SynthAE
    from aelab.viz.plots import sample_grid

    _at_least(args, 1, "count")
    _at_least(args, SYNTHAE_MIN_SIZE, "size")
    output = Path(args.output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        data = SynthAE(args.count, size=args.size, seed=args.seed)
        sample_grid([data[i] for i in range(len(data))]).savefig(output, dpi=100, bbox_inches="tight")
    except OSError as error:
        raise AelabError(f"--output {output}: cannot write it ({error.strerror or error})") from None
    print(f"SynthAE preview written to {output.resolve()}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a SynthAE set to disk in a published layout."""
    from aelab.data.formats import WRITERS
    from aelab.data.synthetic import SynthAE
    from aelab.train.config_checks import choices

    if args.layout not in WRITERS:
        raise ConfigError("--layout", args.layout, choices(args.layout, WRITERS))
    _at_least(args, 1, "n")
    _at_least(args, SYNTHAE_MIN_SIZE, "size")
    if Path(args.root).exists() and not Path(args.root).is_dir():
        raise ConfigError("ROOT", args.root, "a folder to write the data set into, not a file")
    try:
        root = SynthAE(args.n, size=args.size, seed=args.seed).export(args.root, args.layout)
    except OSError as error:
        raise AelabError(f"{args.root}: cannot write the data set there ({error.strerror or error})") from None
    print(f"SynthAE ({args.n} images) written in the {args.layout!r} layout to {Path(root).resolve()}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """Decode a data set once into a memory-mapped uint8 array with its labels (see docs/data_loading.md)."""
    from aelab.data.cache import cache_bytes, open_cache, write_cache

    _at_least(args, 0, "workers")
    options = args.options if args.options is not None else {}
    if not isinstance(options, dict):
        raise ConfigError("--options", options, "a YAML mapping of reader options, e.g. '{subset: style}'")
    if args.device == "cuda" and not _cuda_available():
        raise ConfigError("--device", args.device, "cpu or auto: no CUDA device is available here")
    device = args.device if args.device != "auto" else ("cuda" if _cuda_available() else "cpu")
    folder = write_cache(args.kind, args.root, args.size, args.output, fit=args.fit, options=options,
                         device=device, workers=args.workers)
    index = open_cache(folder).index
    print(f"decoded cache of {len(index['entries'])} {args.kind} images at {args.size}×{args.size} ({args.fit}, "
          f"{cache_bytes(index['rows'], args.size) / 1e9:.2f} GB): {folder.resolve()}")
    print(f"train from it with: --data {args.kind} --root {args.root} --data-options '{{cache: {folder.resolve()}}}'")
    return 0


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


EVALUATE_FLAGS = {"data": "--data", "root": "--root", "tasks": "--tasks", "split": "--split", "seed": "--seed",
                  "batch_size": "--batch-size", "device": "--device", "checkpoint": "--checkpoint",
                  "output": "--output"}


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a trained run on another data set's test split (cross-data-set evaluation); print the table."""
    from aelab.cross_evaluation import evaluate

    output = args.output or str(Path(args.run) / "evaluate" / args.data)
    try:
        result = evaluate(args.run, data=args.data, root=args.root, tasks=args.tasks, split=args.split,
                          seed=args.seed, output=output, batch_size=args.batch_size, device=args.device,
                          checkpoint=args.checkpoint)
    except ConfigError as error:
        raise _as_given(error, EVALUATE_FLAGS) from None
    print(result.markdown())
    print(f"results and tables written to {Path(output).resolve()}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    """Open JupyterLab on the notebooks, listening on loopback with a token; extra arguments go to JupyterLab."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise AelabError("JupyterLab is not installed in this Python; install it with: pip install jupyterlab")
    extra = list(args.jupyter_args)
    command = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={NOTEBOOKS}", "--ip=127.0.0.1",
               f"--port={args.port}", "--ServerApp.port_retries=0"]
    url = f"http://127.0.0.1:{args.port}/lab"
    if not any("token" in item.lower() for item in extra):
        token = secrets.token_hex(24)
        command.append(f"--IdentityProvider.token={token}")
        url += f"?token={token}"
    print(f"[lab] JupyterLab on {url}", flush=True)
    return subprocess.call(command + extra)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aelab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demo notebooks headless on SynthAE")
    demo.add_argument("--runs", default="runs", help="folder holding run folders (default: runs)")
    demo.add_argument("--n", type=int, default=None, help="SynthAE images (default: each notebook's plan, 2000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="tiny settings: a smoke run of every notebook")
    demo.add_argument("--data", help="data set kind for the notebooks that take one (uae, iae, fi, …)")
    demo.add_argument("--root", help="data set root for --data")
    demo.add_argument("--backbone", help="backbone for the notebooks that train (tiny, resnet50, vgg16, …)")
    demo.add_argument("--weights", help="backbone weights: imagenet or a state dict path")
    demo.add_argument("--set", action="append", default=[], metavar="NOTEBOOK.PARAM=VALUE",
                      help="one notebook's parameter (YAML value), e.g. 01_train_multitask.epochs=10; repeatable")
    demo.set_defaults(handler=cmd_demo)
    sweep = commands.add_parser("sweep", help="run a notebook over a YAML grid of parameters and collect one table")
    sweep.add_argument("grid", nargs="?", help="grid file (see notebooks/sweeps/)")
    sweep.add_argument("--jobs", type=int, default=None, help="points at once (default: 1 per GPU, else CPUs/2)")
    sweep.add_argument("--dry-run", action="store_true", help="list the points and which are done; run nothing")
    sweep.add_argument("--print-commands", action="store_true", help="one self-contained command per point")
    sweep.add_argument("--point", type=int, help="run only this point (an index from --dry-run)")
    sweep.add_argument("--force", action="store_true", help="with --point: run it even if it is done")
    sweep.add_argument("--collect", metavar="DIR", help="build the table of a sweep's output folder")
    sweep.add_argument("--output", help="output folder (default: the grid's output, else runs/sweeps/<grid name>)")
    sweep.add_argument("--root", help="real data set root: the grid's real_data settings apply")
    sweep.add_argument("--data", help="data set kind with --root (default: the grid's real_data.data)")
    from aelab.sweep.executors import EXECUTORS

    sweep.add_argument("--executor", choices=list(EXECUTORS), default=None,
                       help="where points run: local process groups (default), or tasks of a Dask cluster "
                            "(pip install 'aelab[cluster]')")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="with --executor dask: the Dask scheduler, e.g. "
                                                              "tcp://HOST:8786 (default: a local cluster of --jobs "
                                                              "workers)")
    sweep.set_defaults(handler=cmd_sweep)
    train = commands.add_parser("train", help="train a multi-task model (see aelab.train.TrainConfig)")
    train.add_argument("--config", help="YAML file of training parameters (flags override it)")
    train.add_argument("--resume", help="a run folder or last.pt to continue")
    _add_config_flags(train)
    train.set_defaults(handler=cmd_train)
    predict = commands.add_parser("predict", help="predict with a trained run for image files or folders")
    predict.add_argument("--run", required=True, help="run folder (holds config.yaml and checkpoints/)")
    predict.add_argument("paths", nargs="+", help="image files and/or folders")
    predict.add_argument("--output", help="write the table here (default: stdout)")
    predict.add_argument("--format", choices=("csv", "json"), default="csv")
    predict.add_argument("--sort", help="task to rank by, highest probability first (e.g. aesthetic)")
    predict.add_argument("--batch-size", type=int, default=64)
    predict.add_argument("--device", default="auto")
    predict.add_argument("--checkpoint", choices=("best", "last"), default="best")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(handler=cmd_predict)
    explain = commands.add_parser("explain", help="explain photos with a trained run: prediction, Grad-CAM, neuron "
                                                  "groups and spatial grid, one PNG and one JSON per photo")
    explain.add_argument("run", help="run folder (holds config.yaml and checkpoints/)")
    explain.add_argument("photos", nargs="+", metavar="PHOTO", help="image files and/or folders")
    explain.add_argument("--layer", action="append", help="probe layer for every task, or TASK=LAYER (repeatable; "
                                                          "default: one per task, deepest with a 4-cell grid)")
    explain.add_argument("--task", action="append", help="task to explain (repeatable; default: all)")
    explain.add_argument("--output", default="explanations", help="folder for the figures and JSON files "
                                                                   "(default: explanations)")
    explain.add_argument("--size", type=int, help="short side fed to the network (default: the run's image size)")
    explain.add_argument("--groups", type=int, default=3, help="NMF neuron groups (default 3)")
    explain.add_argument("--atlas-steps", type=int, help="render steps of the channel pictures the spatial grid "
                                                         "blends (default 64; cached in the run folder)")
    explain.add_argument("--device", default="auto")
    explain.add_argument("--checkpoint", choices=("best", "last"), default="best")
    explain.add_argument("--quiet", action="store_true", help="no progress bar")
    explain.set_defaults(handler=cmd_explain)
    preview = commands.add_parser("preview", help="save a labelled grid of SynthAE samples")
    preview.add_argument("--output", default="runs/preview/synthae.png")
    preview.add_argument("--count", type=int, default=32)
    preview.add_argument("--size", type=int, default=64)
    preview.add_argument("--seed", type=int, default=0)
    preview.set_defaults(handler=cmd_preview)
    export = commands.add_parser("export", help="write SynthAE in a published layout (fi, uae, iae, twitter, ava, "
                                                "artphoto, synthae)")
    export.add_argument("root")
    export.add_argument("--layout", default="synthae")
    export.add_argument("--n", type=int, default=200)
    export.add_argument("--size", type=int, default=64)
    export.add_argument("--seed", type=int, default=0)
    export.set_defaults(handler=cmd_export)
    cache = commands.add_parser("cache", help="decode a data set once into a memory-mapped uint8 array with its "
                                              "labels, for fast training (data_options: {cache: FOLDER})")
    cache.add_argument("root", help="data set root")
    cache.add_argument("--kind", required=True, help="data set kind (ava, fi, uae, iae, twitter, artphoto, synthae)")
    cache.add_argument("--size", type=int, default=256, help="side of the cached images (default 256: 224 px crops)")
    cache.add_argument("--output", help="cache folder (default: ROOT/.aelab-cache/KIND-SIZEpx-FIT)")
    cache.add_argument("--fit", default="resize", choices=("resize", "center_crop"),
                       help="resize to SIZE×SIZE as the training transform does (default), or short side + centre crop")
    cache.add_argument("--options", type=_yaml_value, default=None,
                       help="reader options as YAML, e.g. '{subset: style}'")
    cache.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                       help="decode on: auto (CUDA when present), cpu, cuda")
    cache.add_argument("--workers", type=int, default=0, help="decoding processes on the CPU (default 0: this one)")
    cache.set_defaults(handler=cmd_cache)
    evaluate = commands.add_parser("evaluate", help="evaluate a trained run on another data set's test split "
                                                    "(cross-data-set evaluation)")
    evaluate.add_argument("--run", required=True, help="run folder (holds config.yaml and checkpoints/)")
    evaluate.add_argument("--data", required=True, help="data set kind: uae, iae, fi, twitter, ava, artphoto, synthae")
    evaluate.add_argument("--root", required=True, help="folder of that data set")
    evaluate.add_argument("--tasks", nargs="+", help="tasks to evaluate (default: every task the run and the data "
                                                     "share)")
    evaluate.add_argument("--split", default="test", help="test: the official test split, else the seeded 70/10/20 "
                                                          "split's test part (default); all: every image")
    evaluate.add_argument("--seed", type=int, help="seed of that split (default: the run's)")
    evaluate.add_argument("--output", help="folder for results.json, table.md, table.csv (default: RUN/evaluate/DATA)")
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--checkpoint", default="best", help="best (default) or last")
    evaluate.set_defaults(handler=cmd_evaluate)
    lab = commands.add_parser("lab", help="open JupyterLab on notebooks/ (loopback, token); arguments after "
                                          "'--' go to JupyterLab, e.g. aelab lab -- --allow-root",
                              description="Open JupyterLab on notebooks/ (loopback, token). Arguments after "
                                          "'--' go to JupyterLab.",
                              usage="aelab lab [-h] [--port PORT] [-- JUPYTERLAB ARGUMENTS ...]")
    lab.add_argument("--port", type=int, default=8888)
    lab.set_defaults(handler=cmd_lab, jupyter_args=[])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aelab`` console script. A user error (an :class:`~aelab.errors.AelabError`, a bad
    parameter value included) prints one line ``aelab <command>: error: …`` and returns 2; Ctrl-C prints one
    line and returns 130; argparse reports bad flags itself. Other exceptions are bugs and keep their traceback."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra[1:] if extra[:1] == ["--"] else extra
    try:
        return args.handler(args)
    except AelabError as error:
        print(f"aelab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aelab {args.command}: interrupted; run again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
