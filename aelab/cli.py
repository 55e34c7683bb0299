"""The ``aelab`` command: ``demo`` (the main job), ``preview``, ``export`` and ``lab``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from aelab.errors import AelabError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = PROJECT_ROOT / "notebooks"
DEMO_NOTEBOOKS = ("00_synthae_tour.ipynb",)


def run_notebook(notebook: Path, folder: Path, parameters: dict) -> Path:
    """Execute ``notebook`` headless with papermill into ``folder`` (its figures and results.json land there)."""
    import papermill

    if not notebook.exists():
        raise AelabError(f"notebook {notebook} not found; run aelab from a clone of the repository")
    executed = folder / notebook.name
    papermill.execute_notebook(
        str(notebook), str(executed), parameters={**parameters, "output_dir": str(folder.resolve())},
        cwd=str(folder), progress_bar=False, kernel_name="python3",
    )
    return executed


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo notebooks headless on SynthAE and say where everything went."""
    from aelab.runs import new_run_folder

    folder = new_run_folder("demo", args.runs)
    for name in DEMO_NOTEBOOKS:
        print(f"[demo] running {name} …", flush=True)
        executed = run_notebook(NOTEBOOKS / name, folder, {"n": args.n, "seed": args.seed, "interactive": False})
        print(f"[demo] {name} done → {executed}", flush=True)
    print(f"[demo] outputs (executed notebooks, figures, results.json) are in {folder.resolve()}")
    for figure in sorted(folder.glob("*.png")):
        print(f"[demo]   figure: {figure.resolve()}")
    return 0


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
    demo.set_defaults(handler=cmd_demo)
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
