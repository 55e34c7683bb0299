"""The ``aelab`` command: ``demo`` (the main job), ``train``, ``predict``, ``preview``, ``export`` and ``lab``."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

from aelab.errors import AelabError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = PROJECT_ROOT / "notebooks"
DEMO_NOTEBOOKS = ("00_synthae_tour.ipynb", "01_train_multitask.ipynb")


def demo_parameters(notebook: str, n: int, seed: int, quick: bool) -> dict:
    """Headless parameters of each demo notebook; ``quick`` shrinks everything to a smoke run."""
    plans = {
        "00_synthae_tour.ipynb": {"n": n, "seed": seed, "probe_n": 240 if quick else 1200},
        "01_train_multitask.ipynb": {"n_images": n, "seed": seed, **(
            {"epochs": 1, "image_size": 32, "compare": ["share_split"]} if quick else {})},
    }
    return {**plans[notebook], "interactive": False}


def run_notebook(notebook: Path, folder: Path, parameters: dict) -> Path:
    """Execute ``notebook`` headless with papermill into ``folder/<notebook name>/``, where its figures and
    results.json land next to the executed copy."""
    import papermill

    if not notebook.exists():
        raise AelabError(f"notebook {notebook} not found; run aelab from a clone of the repository")
    target = folder / notebook.stem
    target.mkdir(parents=True, exist_ok=True)
    executed = target / notebook.name
    papermill.execute_notebook(
        str(notebook), str(executed), parameters={**parameters, "output_dir": str(target.resolve())},
        cwd=str(target), progress_bar=False, kernel_name="python3",
    )
    return executed


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo notebooks headless on SynthAE and say where everything went."""
    from aelab.train.runs import new_run_folder

    folder = new_run_folder("demo", args.runs)
    for name in DEMO_NOTEBOOKS:
        print(f"[demo] running {name} …", flush=True)
        executed = run_notebook(NOTEBOOKS / name, folder, demo_parameters(name, args.n, args.seed, args.quick))
        print(f"[demo] {name} done → {executed}", flush=True)
    print(f"[demo] outputs (executed notebooks, figures, results.json) are in {folder.resolve()}")
    for figure in sorted(folder.glob("*/*.png")):
        print(f"[demo]   figure: {figure.resolve()}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train as the flags (and an optional YAML file of parameters) say; print the run folder and test metrics."""
    import yaml

    from aelab.train.config import TrainConfig
    from aelab.train.trainer import fit

    values = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    values.update({name: getattr(args, name) for name in _config_fields() if getattr(args, name) is not None})
    run = fit(TrainConfig.from_dict(values), resume=args.resume)
    if run.results:
        print(f"run folder: {run.folder.resolve()}")
        for task, metrics in run.results.get("test", {}).get("metrics", {}).items():
            shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
            print(f"test {task}: {shown}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict every task for image files or folders with a trained run; CSV or JSON table."""
    from aelab.prediction import predict

    result = predict(args.run, args.paths, batch_size=args.batch_size, device=args.device,
                     checkpoint=args.checkpoint, progress=not args.quiet)
    if args.sort:
        result = result.sorted_by(args.sort)
    if args.format == "json" and args.output:
        Path(args.output).write_text(result.to_json())
    elif args.format == "json":
        print(result.to_json())
    elif args.output:
        result.to_csv(args.output)
    else:
        result.write_csv(sys.stdout)
    for error in result.errors:
        print(f"unreadable: {error['path']} ({error['error']})", file=sys.stderr)
    if args.output:
        print(f"{len(result.rows)} predictions written to {Path(args.output).resolve()}", file=sys.stderr)
    return 0


def _config_fields() -> dict[str, dataclasses.Field]:
    from aelab.train.config import TrainConfig

    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field; dict and list fields take YAML (e.g. --model-options '{reduction: 8}')."""
    import yaml

    for name, spec in _config_fields().items():
        default = spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()
        kind = type(default)
        if kind is bool:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                                action=argparse.BooleanOptionalAction, help=f"(default {default})")
        elif kind in (int, float):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                                help=f"(default {default})")
        elif kind in (dict, list, tuple):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=yaml.safe_load, default=None,
                                help=f"YAML (default {default})")
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, help=f"(default {default})")


def cmd_preview(args: argparse.Namespace) -> int:
    """Save a labelled grid of SynthAE samples."""
    from aelab.data.synthetic import SynthAE
    from aelab.viz.plots import sample_grid

    data = SynthAE(args.count, size=args.size, seed=args.seed)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    sample_grid([data[i] for i in range(len(data))]).savefig(output, dpi=100, bbox_inches="tight")
    print(f"SynthAE preview written to {output.resolve()}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a SynthAE set to disk in a published layout."""
    from aelab.data.synthetic import SynthAE

    root = SynthAE(args.n, size=args.size, seed=args.seed).export(args.root, args.layout)
    print(f"SynthAE ({args.n} images) written in the {args.layout!r} layout to {Path(root).resolve()}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    """Open JupyterLab on the notebooks, listening on loopback with a token."""
    command = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={NOTEBOOKS}", "--ip=127.0.0.1",
               f"--port={args.port}"]
    return subprocess.call(command)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aelab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demo notebooks headless on SynthAE")
    demo.add_argument("--runs", default="runs", help="folder holding run folders (default: runs)")
    demo.add_argument("--n", type=int, default=2000, help="SynthAE images (default: 2000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="tiny settings: a smoke run of every notebook")
    demo.set_defaults(handler=cmd_demo)
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
    lab = commands.add_parser("lab", help="open JupyterLab on notebooks/ (loopback, token)")
    lab.add_argument("--port", type=int, default=8888)
    lab.set_defaults(handler=cmd_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aelab`` console script; errors of aelab print as one line, not a stack trace."""
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except AelabError as error:
        print(f"aelab {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
