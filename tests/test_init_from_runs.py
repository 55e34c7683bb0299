"""Branches and streams started from trained runs (paper 000's initialisation from single-task networks; AENet's
streams from an AVA- and an FI-trained model): exact weights, strict keys, one-line errors, the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from aelab.cli import main
from aelab.errors import ConfigError, WeightsUnavailableError
from aelab.load import load_run
from aelab.models import build_model
from aelab.models.initialisation import named_backbones
from aelab.train import TrainConfig, fit
from aelab.train.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = {"n_images": 40, "fractions": (0.6, 0.2, 0.2), "image_size": 32, "epochs": 1, "batch_size": 16,
         "max_batches": 2, "progress": False, "grad_ratio_every": 0}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """One single-task run per task, each under runs/<task>/<time>-<id>/."""
    output = tmp_path_factory.mktemp("runs")
    return {task: fit(TrainConfig(arch="single", tasks=[task], name=task, output=str(output), **QUICK)).folder
            for task in ("aesthetic", "emotion")}


def trained_backbone(run: Path, name: str) -> dict[str, torch.Tensor]:
    return named_backbones(load_run(run, device="cpu").model)[name].state_dict()


def assert_equal_states(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for key, tensor in want.items():
        assert torch.equal(got[key], tensor), key


def test_two_branch_model_starts_with_the_single_task_backbones(sources):
    model = build_model("afi", "tiny", ["aesthetic", "emotion"], init=sources)
    for task, run in sources.items():
        assert_equal_states(model.branches[task].state_dict(), trained_backbone(run, task))
    fresh = build_model("afi", "tiny", ["aesthetic", "emotion"])
    assert not torch.equal(fresh.branches["aesthetic"].stages[0].conv1[0].weight,
                           model.branches["aesthetic"].stages[0].conv1[0].weight)
    assert model.build_options["init"] == {task: str(run) for task, run in sources.items()}


def test_aenet_streams_from_runs_and_a_folder_of_runs(sources):
    folder_of_runs = sources["emotion"].parent  # runs/emotion/: its latest run is used
    model = build_model("aenet", "tiny", ["aesthetic", "emotion"],
                        init={"shared": sources["aesthetic"], "aesthetic": sources["aesthetic"],
                              "emotion": folder_of_runs})
    assert_equal_states(model.streams["shared"].state_dict(), trained_backbone(sources["aesthetic"], "aesthetic"))
    assert_equal_states(model.streams["aesthetic"].state_dict(), trained_backbone(sources["aesthetic"], "aesthetic"))
    assert_equal_states(model.streams["emotion"].state_dict(), trained_backbone(sources["emotion"], "emotion"))


def test_the_trainer_starts_from_the_named_runs(sources, tmp_path):
    config = TrainConfig(arch="cross_stitch", init={k: str(v) for k, v in sources.items()}, output=str(tmp_path),
                         **QUICK)
    trainer = Trainer(config)
    try:
        for task, run in sources.items():
            assert_equal_states(trainer.model.branches[task].state_dict(), trained_backbone(run, task))
    finally:
        trainer.lock.release()


def test_state_dict_file_and_a_mismatched_file_names_the_key(sources, tmp_path):
    state = trained_backbone(sources["aesthetic"], "aesthetic")
    good = tmp_path / "aesthetic.pt"
    torch.save(state, good)
    model = build_model("single", "tiny", ["aesthetic"], init={"aesthetic": good})
    assert_equal_states(model.branches["aesthetic"].state_dict(), state)

    missing_key = "stages.2.conv2.1.running_mean"
    broken = {k: v for k, v in state.items() if k != missing_key}
    broken["stages.0.conv1.0.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(WeightsUnavailableError) as error:
        build_model("afi", "tiny", ["aesthetic", "emotion"], init={"aesthetic": tmp_path / "broken.pt"})
    message = str(error.value)
    assert "init.aesthetic" in message and missing_key in message
    assert "stages.0.conv1.0.weight (3, 3, 3, 3) != (16, 3, 3, 3)" in message
    assert "\n" not in message


def test_unknown_branch_other_backbone_and_other_widths_are_one_line(sources, tmp_path):
    with pytest.raises(ConfigError, match=r"init: got 'style', expected a branch of this afi model: aesthetic, "
                                          r"emotion"):
        build_model("afi", "tiny", ["aesthetic", "emotion"], init={"style": sources["aesthetic"]})
    with pytest.raises(ConfigError, match=r"a branch of this share_split model: shared"):
        build_model("share_split", "tiny", ["aesthetic", "emotion"], init={"aesthetic": sources["aesthetic"]})

    other = tmp_path / "other"
    shutil.copytree(sources["aesthetic"], other)
    config = yaml.safe_load((other / "config.yaml").read_text())
    config["config"]["backbone"] = "vgg16"
    (other / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as error:
        build_model("afi", "tiny", ["aesthetic", "emotion"], init={"aesthetic": other})
    assert "the tiny backbone of this model (that run has vgg16)" in str(error.value)
    assert "\n" not in str(error.value)

    with pytest.raises(WeightsUnavailableError, match=r"wrong shapes: stages.0.conv1.0.weight \(16, 3, 3, 3\) != "
                                                      r"\(8, 3, 3, 3\)"):
        build_model("afi", "tiny", ["aesthetic", "emotion"], init={"aesthetic": sources["aesthetic"]},
                    backbone_options={"widths": (8, 32, 64, 96, 128)})
    with pytest.raises(ConfigError, match="init.emotion"):
        build_model("afi", "tiny", ["aesthetic", "emotion"], init={"emotion": tmp_path / "nowhere"})


def test_config_checks_the_shape_of_init():
    assert TrainConfig(init=None).init == {}
    with pytest.raises(ConfigError, match="init: got 'runs/a'"):
        TrainConfig(init="runs/a")
    with pytest.raises(ConfigError, match="init.aesthetic: got 3"):
        TrainConfig(init={"aesthetic": 3})


def test_command_line_init_flags(sources, tmp_path, capsys):
    output = tmp_path / "runs"
    assert main(["train", "--arch", "nddr", "--init", f"aesthetic={sources['aesthetic']}",
                 "--init", f"emotion={sources['emotion']}", "--n-images", "40", "--fractions", "[0.6, 0.2, 0.2]",
                 "--image-size", "32", "--epochs", "1", "--max-batches", "1", "--batch-size", "16",
                 "--no-progress", "--grad-ratio-every", "0", "--output", str(output)]) == 0
    saved = yaml.safe_load(next(output.glob("*/*/config.yaml")).read_text())["config"]
    assert saved["init"] == {task: str(run) for task, run in sources.items()}
    capsys.readouterr()
    for flags in (["--init", "aesthetic"], ["--init", "aesthetic=a", "--init", "aesthetic=b"]):
        with pytest.raises(SystemExit) as exit_code:
            main(["train", *flags])
        assert exit_code.value.code == 2
    err = capsys.readouterr().err
    assert "expected BRANCH=RUN_FOLDER_OR_STATE_DICT" in err and "names the branch 'aesthetic' twice" in err
    assert main(["train", "--init", f"style={sources['aesthetic']}", "--n-images", "40", "--image-size", "32",
                 "--fractions", "[0.6, 0.2, 0.2]", "--output", str(tmp_path / "none")]) == 2
    assert "init: got 'style'" in capsys.readouterr().err and not (tmp_path / "none").exists()


def test_a_resumed_run_does_not_need_its_sources(sources, tmp_path):
    copies = {task: shutil.copytree(run, tmp_path / "sources" / task) for task, run in sources.items()}
    first = fit(TrainConfig(arch="afi", init={k: str(v) for k, v in copies.items()}, output=str(tmp_path / "runs"),
                            **QUICK))
    shutil.rmtree(tmp_path / "sources")
    resumed = fit(resume=first.folder, epochs=2)
    assert resumed.folder == first.folder and resumed.results
