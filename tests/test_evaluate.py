"""Cross-data-set evaluation (paper 003's cross-set table): a run trained on SynthAE, tested on SynthAE images
exported to the AVA and ArtPhoto layouts, gives the metrics of the same images evaluated in memory."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import aelab
from aelab.cli import main
from aelab.data import Sample, SynthAE, TaskDataset, split_indices
from aelab.data.formats.artphoto import PREFIXES
from aelab.data.formats.common import JPEG_QUALITY, file_stems
from aelab.errors import AelabError, ConfigError
from aelab.load import load_run
from aelab.tasks import get_task
from aelab.train import TrainConfig, fit
from aelab.train.evaluation import evaluate as evaluate_split

pytestmark = pytest.mark.usefixtures("one_thread")

TASKS = ["aesthetic", "emotion", "aesthetic_score"]
N_EXPORTED = 48


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    config = TrainConfig(arch="share_split", tasks=TASKS, n_images=40, fractions=(0.6, 0.2, 0.2), image_size=32,
                         epochs=1, batch_size=16, max_batches=2, seed=3, progress=False, grad_ratio_every=0,
                         output=str(tmp_path_factory.mktemp("runs")))
    return fit(config).folder


@pytest.fixture(scope="module")
def synthae() -> SynthAE:
    return SynthAE(N_EXPORTED, size=32, seed=11)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, synthae) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exported")
    return {layout: synthae.export(root / layout, layout) for layout in ("ava", "artphoto", "twitter")}


def jpeg_round_trip(image: Image.Image) -> Image.Image:
    """What the AVA and ArtPhoto writers store and their readers decode: an RGB JPEG at the writers' quality."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def in_memory(synthae: SynthAE, layout: str) -> list[Sample]:
    """SynthAE's samples with the pixels the layout stores, in the order its reader lists them."""
    samples = [synthae[i] for i in range(len(synthae))]
    if layout == "artphoto":  # a flat folder read in file-name order: <emotion prefix>_<stem>.jpg
        names = [f"{PREFIXES[s.labels['emotion']]}_{stem}" for s, stem in zip(samples, file_stems(samples))]
        samples = [s for _, s in sorted(zip(names, samples), key=lambda pair: pair[0])]
    return [Sample(s.id, s.labels, jpeg_round_trip(s.load_image())) for s in samples]


def expected_metrics(run: Path, samples: list[Sample], tasks: list[str]):
    """The test part of the seeded split (the run's seed and fractions, stratified by the first task when every
    class has two images), evaluated with the run's own eval transform."""
    loaded = load_run(run, device="cpu")
    labels = np.array([s.labels[tasks[0]] for s in samples])
    stratify = labels if get_task(tasks[0]).kind != "regression" and np.bincount(labels).min() >= 2 else None
    parts = split_indices(len(samples), loaded.config["fractions"], seed=loaded.config["seed"], stratify=stratify)
    test = [samples[int(i)] for i in parts["test"]]
    loader = DataLoader(TaskDataset(test, tasks, loaded.eval_transform()), batch_size=64)
    return evaluate_split(loaded.model, loader, [get_task(t) for t in tasks], torch.device("cpu"), confusion=True), test


def assert_same_numbers(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for task in want:
        assert got[task].keys() == want[task].keys()
        for name, value in want[task].items():
            if math.isnan(value):
                assert math.isnan(got[task][name]), (task, name)
            else:
                assert got[task][name] == pytest.approx(value, rel=1e-6, abs=1e-6), (task, name)


@pytest.mark.parametrize("layout, shared", [("ava", ["aesthetic", "aesthetic_score"]), ("artphoto", ["emotion"])])
def test_exported_layout_gives_the_in_memory_metrics(run, synthae, exported, layout, shared):
    result = aelab.evaluate(run, data=layout, root=exported[layout], device="cpu")
    want, test = expected_metrics(run, in_memory(synthae, layout), shared)
    assert result.tasks == shared
    assert result.n_images == len(test) == round(0.2 * N_EXPORTED)
    assert "seeded 60/20/20 split (seed 3" in result.split_rule
    assert_same_numbers(result.metrics, want.metrics)
    assert result.confusion == want.confusion and set(result.confusion) == {
        t for t in shared if get_task(t).kind != "regression"}


def test_every_image_and_the_saved_tables(run, exported, tmp_path):
    result = aelab.evaluate(run, data="ava", root=exported["ava"], split="all", output=tmp_path / "out",
                            device="cpu")
    assert result.n_images == N_EXPORTED and result.split_rule.startswith("every image")
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["tasks"] == ["aesthetic", "aesthetic_score"] and saved["n_images"] == N_EXPORTED
    assert saved["metrics"]["aesthetic_score"]["srcc"] == pytest.approx(result.metrics["aesthetic_score"]["srcc"])
    assert len(saved["confusion"]["aesthetic"]) == 2
    table = (tmp_path / "out" / "table.csv").read_text().splitlines()
    assert table[0].startswith("data,task,images,accuracy") and len(table) == 3
    assert "| ava | aesthetic |" in (tmp_path / "out" / "table.md").read_text()


def test_command_line_writes_into_the_run_by_default(run, exported, capsys):
    assert main(["evaluate", "--run", str(run), "--data", "artphoto", "--root", str(exported["artphoto"]),
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "| artphoto | emotion |" in printed
    saved = json.loads((run / "evaluate" / "artphoto" / "results.json").read_text())
    assert saved["tasks"] == ["emotion"] and saved["data_tasks"] == ["emotion", "sentiment"]


def test_no_shared_task_names_both_lists(run, exported):
    with pytest.raises(AelabError) as error:
        aelab.evaluate(run, data="twitter", root=exported["twitter"], device="cpu")
    message = str(error.value)
    assert "\n" not in message and "aesthetic, emotion, aesthetic_score" in message and "sentiment" in message


def test_bad_arguments_are_one_line_and_touch_nothing(run, exported, tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("keep me")
    cases = [(["--data", "avaa", "--root", str(exported["ava"])], "--data: got 'avaa'"),
             (["--data", "ava", "--root", str(tmp_path / "missing")], "--root:"),
             (["--data", "ava", "--root", str(exported["ava"]), "--tasks", "style"], "--tasks: got 'style'"),
             (["--data", "ava", "--root", str(exported["ava"]), "--tasks", "emotion"], "data set labels"),
             (["--data", "ava", "--root", str(exported["ava"]), "--output", str(taken)], "--output:"),
             (["--data", "ava", "--root", str(exported["ava"]), "--split", "val"], "--split: got 'val'")]
    for flags, expected in cases:
        assert main(["evaluate", "--run", str(run), *flags]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    assert taken.read_text() == "keep me"
    with pytest.raises(ConfigError, match="seed"):
        aelab.evaluate(run, data="ava", root=exported["ava"], seed=-1)
