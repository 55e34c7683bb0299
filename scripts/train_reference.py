"""Train the SynthAE reference run from the committed recipe and ship it inside the package.

    python scripts/train_reference.py             # train (aelab/assets/reference_recipe.yaml) and ship
    python scripts/train_reference.py --no-ship   # train only; the run stays under --output
    python scripts/train_reference.py --baseline  # the same recipe with arch: single (paper 000 Fig. 5's baseline)

The recipe fixes the data (SynthAE seed and size), architecture, optimisation and the number of CPU threads, and
the trainer reseeds every epoch, so a rerun on the same machine gives the same weights. Shipping copies the run's
config.yaml, metrics.csv, results.json and a weights-only checkpoints/best.pt to aelab/assets/reference_run/ and
renders the atlas the explorer opens on into its atlas/ folder (so a first look renders nothing), then prints the
table against the ceiling (python -m aelab.reference_model prints it again). ``--baseline`` trains the single-task
twin (one network per task, everything else as the recipe says) and ships it to aelab/assets/reference_baseline_run/
(no atlas), the baseline that notebook 05 compares the reference run's Grad-CAM maps with.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from aelab.load import load_run
from aelab.reference_model import (BASELINE_FOLDER, RUN_FOLDER, ceiling_table, format_table, recipe_path,
                                   recipe_threads, reference_recipe, ship_run)
from aelab.run_folder import ATLAS_FOLDER
from aelab.train import fit
from aelab.viz.atlas import ATLAS_SETTINGS, layer_atlas


def ship_atlas(folder: Path) -> Path:
    """Render the atlas the explorer opens on — the deepest probe layer, with ``ATLAS_SETTINGS`` — into the shipped
    run's atlas cache, so that a first look at the reference run renders nothing. Returns the atlas's folder."""
    loaded = load_run(folder, device="cpu")
    layer = loaded.model.probe_layers()[-1]
    layer_atlas(loaded.model, layer, ATLAS_SETTINGS, cache_dir=folder / ATLAS_FOLDER, progress=True)
    return next((folder / ATLAS_FOLDER).glob(f"{layer}-*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="runs", help="folder for the training run (default: runs)")
    parser.add_argument("--no-ship", action="store_true", help="do not copy the run into aelab/assets")
    parser.add_argument("--table-n", type=int, default=2000, help="fresh test images for the final table")
    parser.add_argument("--recipe", default=None, help="another recipe file (trying a variant; implies --no-ship)")
    parser.add_argument("--baseline", action="store_true",
                        help="train and ship the single-task baseline (arch: single) instead of the reference")
    args = parser.parse_args()
    threads = recipe_threads(args.recipe)
    torch.set_num_threads(threads)
    config = reference_recipe(args.recipe, output=args.output, name="synthae-reference", progress=True)
    if args.baseline:
        config = config.replace(arch="single", name="synthae-reference-baseline")
    print(f"recipe {args.recipe or recipe_path()} | {threads} thread(s) | load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    run = fit(config)
    minutes = (time.perf_counter() - started) / 60
    print(f"trained in {minutes:.1f} min | load average {os.getloadavg()[0]:.1f} | run {run.folder}")
    runs = {"baseline" if args.baseline else "reference": run.folder}
    if not (args.no_ship or args.recipe):
        shipped = ship_run(run.folder, name=BASELINE_FOLDER if args.baseline else RUN_FOLDER)
        print("shipped to", shipped)
        if not args.baseline:
            print("the explorer's first atlas:", ship_atlas(shipped))
    print(format_table(ceiling_table(runs, n=args.table_n)))


if __name__ == "__main__":
    main()
