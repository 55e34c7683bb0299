"""Prediction with a trained run: ranks exported SynthAE images by aesthetic probability; unreadable files listed."""

import json

import numpy as np
import pytest

from aelab import cli
from aelab.data import SynthAE, read_dataset
from aelab.prediction import predict
from aelab.train.config import TrainConfig
from aelab.train.trainer import fit


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("runs")
    return fit(TrainConfig(arch="share_split", n_images=1200, image_size=48, epochs=5, batch_size=32, lr=0.03,
                           progress=False, grad_ratio_every=0, output=str(output)))


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("album")
    SynthAE(160, size=48, seed=99).export(root, "synthae")
    (root / "images" / "broken.png").write_text("not an image")
    labels = {str(s.image): s.labels["aesthetic"] for s in read_dataset("synthae", root)}
    return root, labels


def test_ranking_puts_high_aesthetic_images_first(trained_run, photo_folder):
    root, labels = photo_folder
    result = predict(trained_run.folder, root / "images", progress=False).sorted_by("aesthetic")
    assert len(result.rows) == 160
    assert [e["path"] for e in result.errors] == [str(root / "images" / "broken.png")]
    ranked = [labels[row["path"]] for row in result.rows]
    top, bottom = np.mean(ranked[:40]), np.mean(ranked[-40:])
    assert top > 0.65 and top > bottom + 0.25, (top, bottom)  # base rate ~0.57; measured 0.72 vs 0.30
    probabilities = [row["aesthetic_probability"] for row in result.rows]
    assert probabilities == sorted(probabilities, reverse=True)
    row = result.rows[0]
    assert row["aesthetic"] in ("low", "high") and row["emotion"] in {
        "amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear", "sadness"}
    assert sum(row[f"emotion_{e}"] for e in ("amusement", "anger", "awe", "contentment", "disgust",
                                              "excitement", "fear", "sadness")) == pytest.approx(1.0, abs=1e-5)


def test_predict_command_writes_a_sorted_table(trained_run, photo_folder, tmp_path, capsys):
    root, _ = photo_folder
    output = tmp_path / "ranked.json"
    assert cli.main(["predict", "--run", str(trained_run.folder), str(root / "images"), "--sort", "aesthetic",
                     "--format", "json", "--output", str(output), "--quiet"]) == 0
    table = json.loads(output.read_text())
    assert len(table["predictions"]) == 160 and table["unreadable"][0]["path"].endswith("broken.png")
    assert "broken.png" in capsys.readouterr().err


def test_table_written_atomically_keeps_the_old_file_when_writing_fails(tmp_path):
    from aelab.prediction import Predictions

    table = tmp_path / "table.csv"
    table.write_bytes(b"old,table\n")
    broken = Predictions(rows=[{"path": "a.jpg", "aesthetic_probability": 0.9}, {"path": "b.jpg", "other": 1}])
    with pytest.raises(ValueError, match="other"):
        broken.to_csv(table)
    assert table.read_bytes() == b"old,table\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
    Predictions(rows=[{"path": "a.jpg", "aesthetic_probability": 0.9}]).save(table, "json")
    assert json.loads(table.read_text())["predictions"][0]["path"] == "a.jpg"


def test_predict_checks_its_arguments_before_loading_the_run(tmp_path):
    from aelab.errors import AelabError, ConfigError

    (tmp_path / "a.png").write_bytes(b"")
    for kwargs, message in [({"batch_size": 0}, "batch_size: got 0"), ({"checkpoint": "first"}, "checkpoint: got"),
                            ({"device": "gpu"}, "device: got 'gpu'")]:
        with pytest.raises(ConfigError, match=message):
            predict(tmp_path / "no-run", tmp_path, **kwargs)
    with pytest.raises(ConfigError, match="paths: got .*missing.jpg"):
        predict(tmp_path / "no-run", [tmp_path / "a.png", tmp_path / "missing.jpg"])
    (tmp_path / "a.png").unlink()
    with pytest.raises(AelabError, match="no image files in"):
        predict(tmp_path / "no-run", tmp_path)
