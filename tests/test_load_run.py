"""Loading a trained run with its own input normalisation: best-else-last weights, the explorer and the selection
evidence of a run trained without normalisation, and a run trained end to end with the training set's mean image
subtracted (patent CN109978074A)."""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import yaml
from PIL import Image

import aelab
from aelab.data import SynthAE
from aelab.data.transforms import compute_mean_image, eval_transform, mean_image_of
from aelab.errors import AelabError, ConfigError
from aelab.load import LoadedRun, load_run
from aelab.models import build_model
from aelab.prediction import image_files, load_run_model, predict
from aelab.selection import gather_evidence, sentiment_config
from aelab.tasks import get_task
from aelab.train import TrainConfig, fit
from aelab.train.data import MEAN_IMAGE_FILE, build_datasets, split_samples
from aelab.train.runs import checkpoint_path, load_checkpoint, save_checkpoint
from aelab.viz.overlays import denormalize
from aelab.viz.probe import layer_activations, normalize_input
from aelab.viz.atlas import run_atlas
from aelab.viz.render import RenderSettings
from aelab.widgets.explorer import Explorer

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = {"n_images": 40, "fractions": (0.6, 0.2, 0.2), "image_size": 32, "epochs": 1, "batch_size": 16,
         "max_batches": 2}
QUICK_ATLAS = RenderSettings(steps=2, size=32)
EVIDENCE_ATLAS = RenderSettings(steps=2, size=32, seed=1)  # its own atlas: nothing cached by another test
LAYER = "shared.stage2"


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory) -> Path:
    """A binary-sentiment run trained on pixels in [0, 1] (``normalization="none"``)."""
    config = sentiment_config(tmp_path_factory.mktemp("runs"), normalization="none", **QUICK)
    return fit(config).folder


@pytest.fixture(scope="module")
def mean_run(tmp_path_factory):
    """A run trained with the training set's mean image subtracted."""
    config = TrainConfig(arch="share_split", normalization="dataset", progress=False, grad_ratio_every=0,
                         output=str(tmp_path_factory.mktemp("runs")), **QUICK)
    return fit(config)


@contextmanager
def first_layer_inputs():
    """Every tensor that reaches a convolution reading RGB images, while the block runs (any model)."""
    seen: list[torch.Tensor] = []

    def record(module, inputs):
        if isinstance(module, torch.nn.Conv2d) and module.in_channels == 3:
            seen.append(inputs[0].detach().cpu())

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        yield seen
    finally:
        handle.remove()


def stage_output(model: torch.nn.Module, inputs: torch.Tensor, layer: str) -> torch.Tensor:
    """The output of probe layer ``layer`` in the model's full forward pass on ``inputs`` (its own input)."""
    seen = {}
    handle = model.layer(layer).register_forward_hook(lambda module, args, output: seen.update(out=output))
    with torch.no_grad():
        model(inputs)
    handle.remove()
    return seen["out"]


def assert_pixels_only(seen: list[torch.Tensor]) -> None:
    assert seen, "no image reached the first layer"
    low, high = min(float(x.min()) for x in seen), max(float(x.max()) for x in seen)
    assert low >= 0.0 and high <= 1.0, f"inputs in [{low:.2f}, {high:.2f}]: normalised, but the run used none"


# ---- the loader ------------------------------------------------------------------------------------------------


def test_load_run_takes_best_else_last(plain_run, tmp_path):
    loaded = aelab.load_run(plain_run, device="cpu")
    assert isinstance(loaded, LoadedRun) and loaded.checkpoint == checkpoint_path(plain_run, "best")
    assert not loaded.model.training and loaded.device == torch.device("cpu")
    assert loaded.config["normalization"] == "none" and load_run(loaded) is loaded
    assert load_run(plain_run, "last", device="cpu").checkpoint == checkpoint_path(plain_run, "last")

    copy = Path(shutil.copytree(plain_run, tmp_path / "run"))
    checkpoint_path(copy, "best").unlink()
    state = load_checkpoint(checkpoint_path(copy, "last"))
    state["model"] = {name: value + 1 if value.is_floating_point() else value for name, value in state["model"].items()}
    save_checkpoint(state, checkpoint_path(copy, "last"))
    fallback = load_run(copy, device="cpu")
    assert fallback.checkpoint == checkpoint_path(copy, "last")
    for name, value in fallback.model.state_dict().items():
        assert torch.equal(value, state["model"][name]), name
    model, config = load_run_model(copy, device="cpu")  # the pair kept for existing notebooks
    assert config == fallback.config and model.normalization == fallback.normalization
    checkpoint_path(copy, "last").unlink()
    with pytest.raises(AelabError, match="no checkpoint 'best'"):
        load_run(copy, device="cpu")


def test_unknown_normalisation_names_the_config_file(plain_run, tmp_path):
    copy = Path(shutil.copytree(plain_run, tmp_path / "run"))
    saved = yaml.safe_load((copy / "config.yaml").read_text())
    saved["config"]["normalization"] = "zscore"
    (copy / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match=r"config\.yaml: normalization: got 'zscore', expected one of imagenet"):
        load_run(copy, device="cpu")


# ---- a run trained without normalisation -----------------------------------------------------------------------


def test_loaded_model_probes_raw_pixels(plain_run):
    loaded = load_run(plain_run, device="cpu")
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded.normalize(pixels), pixels)
    assert torch.allclose(layer_activations(loaded.model, pixels, LAYER, normalize=True),
                          stage_output(loaded.model, pixels, LAYER), atol=1e-6)
    assert torch.equal(denormalize(pixels, loaded.model), pixels)


def test_explorer_of_an_unnormalised_run_sees_pixels(plain_run):
    with first_layer_inputs() as seen:
        explorer = Explorer(plain_run, layers=[LAYER], n_images=4, settings=QUICK_ATLAS)
        figure = explorer.figure(LAYER, channel=0, image=0, groups=1, task="sentiment", target=1)
    plt.close(figure)
    assert torch.equal(explorer.data.images, explorer.data.pixels)
    assert_pixels_only(seen)
    metas = [json.loads(path.read_text()) for path in (plain_run / "atlas").glob(f"{LAYER}-*/meta.json")]
    assert [m["normalization"] for m in metas if m["settings"] == QUICK_ATLAS.key()] == [[[0, 0, 0], [1, 1, 1]]]


def test_evidence_of_an_unnormalised_run_sees_pixels(plain_run):
    with first_layer_inputs() as seen:
        evidence = gather_evidence(plain_run, [LAYER], n_images=16, n_show=1, settings=EVIDENCE_ATLAS, n_shuffles=2)
    assert evidence.layer_names == [LAYER]
    assert_pixels_only(seen)


# ---- a run trained with the training set's mean image subtracted -----------------------------------------------


def test_mean_image_run_is_saved_and_predicts_with_it(mean_run, tmp_path):
    config, folder = mean_run.config, mean_run.folder
    expected = compute_mean_image(split_samples(config)["train"], config.image_size)
    saved = load_checkpoint(folder / MEAN_IMAGE_FILE)["mean_image"]
    assert saved.shape == (3, 32, 32) and torch.allclose(saved, expected)
    assert torch.allclose(mean_image_of(build_datasets(config)["test"].transform), expected)  # evaluation
    assert "test" in mean_run.results

    SynthAE(6, size=40, seed=7).export(tmp_path, "synthae")
    files = image_files([tmp_path / "images"])
    rows = predict(folder, files, device="cpu", progress=False).rows
    model = build_model("share_split", "tiny", tasks=config.tasks, weights=None)
    model.load_state_dict(load_checkpoint(checkpoint_path(folder, "best"))["model"])
    to_pixels = eval_transform(32, normalization="none")
    pixels = torch.stack([to_pixels(Image.open(path).convert("RGB")) for path in files])
    with torch.no_grad():
        outputs = model.eval()(pixels - saved)
    assert [row["path"] for row in rows] == [str(path) for path in files]
    got = torch.tensor([row["aesthetic_probability"] for row in rows])
    assert torch.allclose(got, torch.sigmoid(outputs["aesthetic"]).flatten(), atol=1e-5)
    emotions = torch.tensor([[row[f"emotion_{name}"] for name in get_task("emotion").classes] for row in rows])
    assert torch.allclose(emotions, torch.softmax(outputs["emotion"], dim=-1), atol=1e-5)


def test_mean_image_run_visualises_with_its_mean_image(mean_run):
    loaded = load_run(mean_run.folder, device="cpu")
    mean = loaded.mean_image
    assert mean is not None and torch.equal(mean_image_of(loaded.eval_transform()), mean)
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(layer_activations(loaded.model, pixels, LAYER, normalize=True),
                          stage_output(loaded.model, pixels - mean, LAYER), atol=1e-5)
    assert torch.allclose(denormalize(pixels - mean, loaded.model), pixels, atol=1e-6)
    bigger = torch.rand(1, 3, 48, 48)  # activation maximisation renders at its own size: the mean image follows
    resized = torch.nn.functional.interpolate(mean[None], size=(48, 48), mode="bilinear", antialias=True)
    assert torch.allclose(normalize_input(bigger, loaded.normalization), bigger - resized, atol=1e-6)
    atlas = run_atlas(loaded, LAYER, RenderSettings(steps=2, size=16), progress=False)
    assert atlas.shape[1:] == (3, 16, 16)
    meta = json.loads(next((mean_run.folder / "atlas").glob(f"{LAYER}-*/meta.json")).read_text())
    assert set(meta["normalization"]) == {"mean_image"}


def test_mean_image_run_without_its_mean_image_says_so(mean_run, tmp_path):
    copy = Path(shutil.copytree(mean_run.folder, tmp_path / "run"))
    (copy / MEAN_IMAGE_FILE).unlink()
    with pytest.raises(AelabError, match=r"mean_image\.pt not found"):
        load_run(copy, device="cpu")
