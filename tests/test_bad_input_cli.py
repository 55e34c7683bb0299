"""The ``aelab`` command with bad input: one line on stderr naming the parameter or file and what is expected,
a non-zero exit, no traceback, and nothing written or changed. Training parameters are checked when a
TrainConfig is made, before any data are read or folders made."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aelab import cli
from aelab.errors import ConfigError
from aelab.train.config import FIELD_CHECKS, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def run_main(capsys, *argv: str) -> tuple[int, str]:
    """Exit code and stderr of ``aelab argv``; stderr must be one line without a traceback."""
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return code, err


def assert_refused(capsys, argv: list[str], *fragments: str) -> str:
    code, err = run_main(capsys, *argv)
    assert code == 2
    assert err.startswith(f"aelab {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# ---- as a user runs it: a subprocess, so that nothing but the one line reaches the terminal ------------------

@pytest.mark.parametrize("argv, fragment", [
    (["train", "--config", "missing.yaml"], "--config missing.yaml: cannot read it"),
    (["train", "--lr", "-1"], "--lr: got -1.0, expected a number > 0"),
    (["export", "out", "--layout", "fii"], "did you mean 'fi'?"),
])
def test_terminal_shows_one_line_and_no_traceback(tmp_path, argv, fragment):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "aelab.cli", *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and fragment in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


# ---- aelab train: the config file ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, fragments", [
    ("- epochs\n- lr\n", ["holds a YAML list", "expected a mapping of training parameters"]),
    ("epochs: [\n", ["line 2: not valid YAML"]),
    ("lr: fast\n", ["config.yaml: lr: got 'fast', expected a number > 0"]),
    ("epoch: 3\n", ["config.yaml: training parameter: got 'epoch'", "did you mean 'epochs'?"]),
    ("tasks: aesthetic\n", ["config.yaml: tasks: got 'aesthetic'", "a non-empty list"]),
])
def test_bad_config_file_names_the_file(tmp_path, capsys, text, fragments):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    assert_refused(capsys, ["train", "--config", str(config), "--output", str(tmp_path / "runs")], *fragments)
    assert not (tmp_path / "runs").exists()


def test_unreadable_config_file_is_one_line(tmp_path, capsys):
    assert_refused(capsys, ["train", "--config", str(tmp_path)], f"--config {tmp_path}: cannot read it")
    binary = tmp_path / "weights.pt"
    binary.write_bytes(b"\x80\x81\xff")
    assert_refused(capsys, ["train", "--config", str(binary)], "not a text file")


# ---- aelab train: flags ------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, fragments", [
    (["--epochs", "0"], ["--epochs: got 0, expected an integer >= 1"]),
    (["--batch-size", "0"], ["--batch-size: got 0"]),
    (["--fractions", "[0.5, 0.5]"], ["--fractions: got [0.5, 0.5]", "summing to 1"]),
    (["--fractions", "[0.9, 0.2, -0.1]"], ["--fractions", "non-negative"]),
    (["--fractions", "[0.5, 0.2, 0.2]"], ["--fractions", "summing to 1"]),
    (["--data", "fii"], ["--data: got 'fii'", "did you mean 'fi'?"]),
    (["--data", "fi"], ["--root: got None", "the folder of the 'fi' data set"]),
    (["--arch", "share_splt"], ["--arch: got 'share_splt'", "did you mean 'share_split'?"]),
    (["--backbone", "resnet5"], ["--backbone: got 'resnet5'", "did you mean 'resnet50'?"]),
    (["--balancing", "gradnrom"], ["--balancing: got 'gradnrom'", "did you mean 'gradnorm'?"]),
    (["--tasks", "[beauty]"], ["--tasks: got 'beauty'", "aesthetic"]),
    (["--normalization", "imagnet"], ["--normalization: got 'imagnet'", "did you mean 'imagenet'?"]),
    (["--optimizer", "rmsprop"], ["--optimizer: got 'rmsprop'", "sgd, adam"]),
    (["--model-options", "[4]"], ["--model-options: got [4]", "a mapping"]),
    (["--name", "../elsewhere"], ["--name: got '../elsewhere'", "a plain folder name"]),
    (["--name", "/tmp/abs"], ["--name: got '/tmp/abs'"]),
    (["--device", "gpu"], ["--device: got 'gpu'", "'cuda:N'"]),
    (["--folds", "5", "--fold", "5"], ["--fold: got 5, expected a fold in 0..folds-1 (0..4 with folds=5)"]),
])
def test_bad_training_flag_is_refused_before_anything_is_made(tmp_path, capsys, flags, fragments):
    output = tmp_path / "runs"
    assert_refused(capsys, ["train", "--output", str(output), *flags], *fragments)
    assert not output.exists()


def test_cuda_without_a_gpu_is_refused(tmp_path, capsys, no_gpu):
    assert_refused(capsys, ["train", "--device", "cuda", "--output", str(tmp_path / "runs")],
                   "--device: got 'cuda'", "no CUDA GPU is visible")
    assert not (tmp_path / "runs").exists()


def test_flag_value_that_is_not_yaml_is_left_to_argparse(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--model-options", "{a:"])
    assert stop.value.code == 2 and "not valid YAML: '{a:'" in capsys.readouterr().err


# ---- TrainConfig itself -----------------------------------------------------------------------------------

def test_every_field_has_a_check():
    assert set(FIELD_CHECKS) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("values, fragment", [
    ({"lr": "fast"}, "lr: got 'fast'"),
    ({"lr": float("nan")}, "lr: got nan"),
    ({"epochs": True}, "epochs: got True, expected an integer"),
    ({"epochs": 2.0}, "epochs: got 2.0, expected an integer"),
    ({"amp": 1}, "amp: got 1, expected true or false"),
    ({"tasks": ["aesthetic", "aesthetic"]}, "distinct"),
    ({"tasks": []}, "a non-empty list"),
    ({"data_options": "agree"}, "data_options: got 'agree'"),
    ({"seed": -1}, "seed: got -1"),
    ({"name": ".."}, "name: got '..'"),
    ({"output": ""}, "output: got ''"),
])
def test_config_refuses_wrong_types_and_ranges(values, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        TrainConfig(**values)


def test_config_keeps_valid_values_in_plain_types(tmp_path):
    config = TrainConfig(epochs=np.int64(3), lr=1, fractions=[0.8, 0.1, 0.1], tasks=("aesthetic",),
                         output=tmp_path, folds=5, fold=4, arch="mcn", balancing="dwa",
                         balancing_options={"temperature": 2.0}, model_options={"layers": 1}, normalization="dataset")
    assert type(config.epochs) is int and type(config.lr) is float and config.output == str(tmp_path)
    assert config.fractions == (0.8, 0.1, 0.1) and config.tasks == ["aesthetic"]
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="epochs: got 0"):
        config.replace(epochs=0)


def test_output_that_is_a_file_is_refused(tmp_path):
    existing = tmp_path / "runs"
    existing.write_text("keep")
    with pytest.raises(ConfigError, match="output: got .*a folder"):
        TrainConfig(output=str(existing))
    assert existing.read_text() == "keep"


def test_saved_config_of_a_gpu_run_loads_on_a_machine_without_one(no_gpu):
    saved = TrainConfig().to_dict() | {"device": "cuda"}
    with pytest.raises(ConfigError, match="device: got 'cuda'"):
        TrainConfig.from_dict(saved)
    assert TrainConfig.from_dict(saved, saved=True).device == "auto"


def test_config_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match="training parameters: got \\['epochs'\\], expected a mapping"):
        TrainConfig.from_dict(["epochs"])


# ---- aelab predict ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, one_thread):
    from aelab.train.trainer import fit

    output = tmp_path_factory.mktemp("runs")
    return fit(TrainConfig(arch="single", tasks=["aesthetic"], n_images=80, image_size=32, epochs=1, batch_size=16,
                           max_batches=2, progress=False, grad_ratio_every=0, output=str(output))).folder


@pytest.fixture
def photos(tmp_path):
    from aelab.data import SynthAE

    SynthAE(4, size=32, seed=1).export(tmp_path / "album", "synthae")
    return tmp_path / "album" / "images"


@pytest.fixture
def no_prediction(monkeypatch):
    """Predicting at all fails the test: the checks must come first."""
    import aelab.prediction

    def refuse(*args, **kwargs):
        raise AssertionError("predicted before checking the arguments")
    monkeypatch.setattr(aelab.prediction, "load_run", refuse)


def test_predict_output_in_a_missing_folder_is_refused_before_predicting(tmp_path, capsys, photos, no_prediction):
    target = tmp_path / "missing" / "table.csv"
    assert_refused(capsys, ["predict", "--run", str(tmp_path), str(photos), "--output", str(target)],
                   f"--output: got '{target}'", f"{target.parent} does not exist")
    assert not target.parent.exists()


def test_predict_output_that_is_a_folder_is_refused(tmp_path, capsys, photos, no_prediction):
    assert_refused(capsys, ["predict", "--run", str(tmp_path), str(photos), "--output", str(tmp_path)],
                   "--output", "a file path, not a folder")


@pytest.mark.parametrize("flags, fragment", [
    (["--batch-size", "0"], "--batch-size: got 0, expected an integer >= 1"),
    (["--device", "tpu"], "--device: got 'tpu'"),
    (["--sort", "beauty"], "--sort: got 'beauty', expected one of the run's tasks: aesthetic"),
])
def test_predict_bad_value_is_refused_and_existing_output_kept(tiny_run, tmp_path, capsys, photos, flags, fragment,
                                                               no_prediction):
    table = tmp_path / "table.csv"
    table.write_bytes(b"old,table\n")
    assert_refused(capsys, ["predict", "--run", str(tiny_run), str(photos), "--output", str(table), *flags],
                   fragment)
    assert table.read_bytes() == b"old,table\n"


def test_predict_missing_input_and_empty_folder(tiny_run, tmp_path, capsys, no_prediction):
    assert_refused(capsys, ["predict", "--run", str(tiny_run), str(tmp_path / "nope.jpg")],
                   f"PATHS: got '{tmp_path / 'nope.jpg'}', expected an existing image file or folder")
    (tmp_path / "notes.txt").write_text("no images here")
    assert_refused(capsys, ["predict", "--run", str(tiny_run), str(tmp_path)],
                   f"no image files in {tmp_path}", ".jpg")


def test_predict_not_a_run_folder(tmp_path, capsys, photos):
    assert_refused(capsys, ["predict", "--run", str(tmp_path), str(photos)], "not a run folder")


def test_predict_writes_the_table(tiny_run, tmp_path, capsys, photos):
    table = tmp_path / "table.csv"
    table.write_text("old")
    assert cli.main(["predict", "--run", str(tiny_run), str(photos), "--output", str(table), "--quiet"]) == 0
    assert table.read_text().startswith("path,aesthetic_probability,aesthetic") and table.read_text().count("\n") == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["album", "table.csv"]  # no temporary file left


# ---- aelab preview / export -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["export", "{root}", "--n", "0"], "--n: got 0, expected an integer >= 1"),
    (["export", "{root}", "--size", "8"], "--size: got 8, expected an integer >= 16"),
    (["export", "{root}", "--layout", "twiter"], "--layout: got 'twiter'"),
    (["preview", "--output", "{root}/grid.png", "--count", "0"], "--count: got 0"),
    (["preview", "--output", "{root}/grid.png", "--size", "4"], "--size: got 4"),
])
def test_export_and_preview_bad_values(tmp_path, capsys, argv, fragment):
    root = tmp_path / "out"
    assert_refused(capsys, [a.format(root=root) for a in argv], fragment)
    assert not root.exists()


def test_export_into_a_file_keeps_it(tmp_path, capsys):
    existing = tmp_path / "data.txt"
    existing.write_text("keep")
    assert_refused(capsys, ["export", str(existing), "--n", "2"], "a folder to write the data set into")
    assert existing.read_text() == "keep"


def test_preview_into_an_unwritable_place_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    assert_refused(capsys, ["preview", "--output", str(blocker / "grid.png"), "--count", "2", "--size", "16"],
                   f"--output {blocker / 'grid.png'}: cannot write it")
    assert blocker.read_text() == "keep"


# ---- aelab lab, Ctrl-C, real bugs ---------------------------------------------------------------------------

def test_lab_passes_extra_arguments_and_prints_its_address(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command: seen.append(command) or 0)
    assert cli.main(["lab", "--port", "8899", "--", "--allow-root", "--ServerApp.base_url=/x/"]) == 0
    command = seen[0]
    assert command[-2:] == ["--allow-root", "--ServerApp.base_url=/x/"] and "--port=8899" in command
    token = next(a for a in command if a.startswith("--IdentityProvider.token=")).partition("=")[2]
    assert f"http://127.0.0.1:8899/lab?token={token}" in capsys.readouterr().out


def test_lab_keeps_a_token_given_by_the_user(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command: seen.append(command) or 0)
    cli.main(["lab", "--", "--IdentityProvider.token=mine"])
    assert [a for a in seen[0] if "token" in a] == ["--IdentityProvider.token=mine"]
    assert "http://127.0.0.1:8888/lab" in capsys.readouterr().out


def test_extra_arguments_elsewhere_are_an_argparse_error(capsys):
    with pytest.raises(SystemExit):
        cli.main(["preview", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(command):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli.subprocess, "call", interrupted)
    assert cli.main(["lab"]) == 130
    assert capsys.readouterr().err == "aelab lab: interrupted; run again to continue\n"


def test_a_real_bug_keeps_its_traceback(monkeypatch):
    def broken(command):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(cli.subprocess, "call", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["lab"])
