"""Layer atlases: cached on disk, keyed by model, layer and settings, resumable; run folders; the sheet figure."""

from __future__ import annotations

from dataclasses import replace

import matplotlib
import pytest
import torch

import aelab.viz.atlas as atlas_module
from aelab.models import build_model
from aelab.models.backbones import build_backbone
from aelab.train.config import TrainConfig
from aelab.train.runs import checkpoint_path, new_run_folder, save_checkpoint, write_config
from aelab.viz.atlas import atlas_sheet, layer_atlas, run_atlas
from aelab.viz.render import RenderSettings, render_channels

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS = RenderSettings(steps=3, size=16, batch_size=6)  # stage1 of the tiny net: 16 channels → 3 batches
LAYER = "stage1"


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return build_backbone("tiny").eval()


class Counting:
    """Wraps the atlas module's ``render``: counts the channels rendered, optionally fails on call ``fail_on``."""

    def __init__(self, real, fail_on: int | None = None):
        self.real, self.fail_on, self.calls, self.channels = real, fail_on, 0, []

    def __call__(self, model, objective, settings, **kwargs):
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise KeyboardInterrupt("interrupted while rendering")
        self.channels += objective.channels.tolist()
        return self.real(model, objective, settings, **kwargs)


def never(*args, **kwargs):
    raise AssertionError("the atlas was rendered although it is cached")


def test_cache_miss_then_hit(tiny, tmp_path, monkeypatch):
    counting = Counting(atlas_module.render)
    monkeypatch.setattr(atlas_module, "render", counting)
    first = layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, progress=False)
    assert first.shape == (16, 3, 16, 16) and first.dtype == torch.float32
    assert sorted(counting.channels) == list(range(16)) and counting.calls == 3
    folders = list(tmp_path.iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("stage1-")
    assert (folders[0] / "atlas.pt").exists() and not list(folders[0].glob("part-*"))
    monkeypatch.setattr(atlas_module, "render", never)
    second = layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, progress=False)
    assert torch.equal(first, second)
    # the same images as one render_channels call (8-bit stored: within rounding)
    direct = render_channels(tiny, LAYER, settings=replace(SETTINGS, batch_size=16), progress=False)
    assert (first - direct).abs().max() <= 0.5 / 255 + 1e-3


def test_key_follows_settings_and_weights_not_batch_size(tiny, tmp_path, monkeypatch):
    layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, progress=False)
    monkeypatch.setattr(atlas_module, "render", never)
    layer_atlas(tiny, LAYER, replace(SETTINGS, batch_size=4), cache_dir=tmp_path, progress=False)  # a hit
    monkeypatch.undo()
    counting = Counting(atlas_module.render)
    monkeypatch.setattr(atlas_module, "render", counting)
    layer_atlas(tiny, LAYER, replace(SETTINGS, steps=4), cache_dir=tmp_path, progress=False)
    assert counting.calls == 3  # other settings: another atlas
    with torch.no_grad():
        tiny.stages[0].conv1[0].weight[0, 0, 0, 0] += 0.1
    layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, progress=False)
    assert counting.calls == 6  # other weights: another atlas
    layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, key="checkpoint:abc", progress=False)
    assert counting.calls == 9  # an explicit key replaces the state-dict hash
    assert len(list(tmp_path.iterdir())) == 4


def test_interrupted_build_resumes_with_finished_batches(tiny, tmp_path, monkeypatch):
    failing = Counting(atlas_module.render, fail_on=3)
    monkeypatch.setattr(atlas_module, "render", failing)
    with pytest.raises(KeyboardInterrupt):
        layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, progress=False)
    folder = next(tmp_path.iterdir())
    parts = sorted(p.name for p in folder.glob("part-*.pt"))
    assert parts == ["part-00000-00006.pt", "part-00006-00012.pt"] and not (folder / "atlas.pt").exists()
    assert not list(folder.glob(".*tmp"))  # atomic writes leave no temporary files
    resumed = Counting(atlas_module.render)
    monkeypatch.setattr(atlas_module, "render", resumed)
    result = layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, progress=False)
    assert resumed.channels == list(range(12, 16))  # only what was missing
    reference = layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path / "fresh", progress=False)
    assert torch.equal(result, reference)


def test_unreadable_part_is_rendered_again(tiny, tmp_path, monkeypatch):
    failing = Counting(atlas_module.render, fail_on=2)
    monkeypatch.setattr(atlas_module, "render", failing)
    with pytest.raises(KeyboardInterrupt):
        layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, progress=False)
    part = next(next(tmp_path.iterdir()).glob("part-*.pt"))
    part.write_bytes(b"garbage")
    again = Counting(atlas_module.render)
    monkeypatch.setattr(atlas_module, "render", again)
    with pytest.warns(UserWarning, match="unreadable atlas file"):
        layer_atlas(tiny, LAYER, SETTINGS, cache_dir=tmp_path, progress=False)
    assert again.channels == list(range(16))


def test_no_cache_dir_renders_without_files(tiny, tmp_path, monkeypatch):
    working = tmp_path / "working"
    working.mkdir()
    monkeypatch.chdir(working)  # a file written relative to the working folder would land under tmp_path
    before = sorted(tmp_path.rglob("*"))
    settings = RenderSettings(steps=1, size=16)
    images = layer_atlas(tiny, LAYER, settings, cache_dir=None, progress=False)
    assert images.shape == (16, 3, 16, 16)
    assert sorted(tmp_path.rglob("*")) == before == [working]
    # the same atlas as a cached build (stored 8-bit: within rounding)
    cached = layer_atlas(tiny, LAYER, settings, cache_dir=tmp_path / "cache", progress=False)
    assert (images - cached).abs().max() <= 0.5 / 255 + 1e-3
    assert len(list((tmp_path / "cache").rglob("atlas.pt"))) == 1


def fake_run(root, arch="cross_stitch"):
    """A run folder as the trainer writes it (config + best checkpoint) for an untrained tiny model."""
    folder = new_run_folder("atlas", root)
    config = TrainConfig(arch=arch, image_size=32, output=str(root))
    write_config(folder, config.to_dict())
    torch.manual_seed(0)
    model = build_model(arch, "tiny", tasks=config.tasks)
    save_checkpoint({"model": model.state_dict()}, checkpoint_path(folder, "best"))
    return folder, model


def test_run_atlas_caches_in_the_run_folder(tmp_path, monkeypatch):
    folder, model = fake_run(tmp_path)
    settings = RenderSettings(steps=2, size=16)
    first = run_atlas(folder, "emotion.stage1", settings, device="cpu", progress=False)
    assert first.shape == (16, 3, 16, 16)
    cached = list((folder / "atlas").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("emotion.stage1-")
    monkeypatch.setattr(atlas_module, "render", never)
    assert torch.equal(run_atlas(folder, "emotion.stage1", settings, device="cpu", progress=False), first)
    # a new checkpoint file (training went on) is another atlas
    with torch.no_grad():
        model.branches["emotion"].stages[0].conv1[0].weight.mul_(2)
    save_checkpoint({"model": model.state_dict()}, checkpoint_path(folder, "best"))
    monkeypatch.undo()
    second = run_atlas(folder, "emotion.stage1", settings, device="cpu", progress=False)
    assert len(list((folder / "atlas").iterdir())) == 2 and not torch.equal(first, second)


def test_atlas_sheet_titles_name_layer_and_channels():
    images = torch.rand(5, 3, 8, 8)
    figure = atlas_sheet(images, columns=3, layer="aesthetic.stage3", channels=[4, 8, 15, 16, 23])
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ["ch 4", "ch 8", "ch 15", "ch 16", "ch 23"]
    assert "aesthetic.stage3" in figure._suptitle.get_text()
    with pytest.raises(ValueError, match="channel labels"):
        atlas_sheet(images, channels=[1, 2])
