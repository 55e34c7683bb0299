"""TaskDataset, transforms and splits."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from aelab.data.datasets import TaskDataset
from aelab.data.sample import Sample
from aelab.data.splits import kfold_indices, split_indices
from aelab.data.synthetic import SynthAE
from aelab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, compute_mean_image, eval_transform, train_transform
from aelab.errors import DataFormatError, UnknownNameError


def test_task_dataset_items_and_batches():
    data = TaskDataset(SynthAE(12, size=32), ["aesthetic", "emotion", "style"], eval_transform(32))
    batch = next(iter(DataLoader(data, batch_size=4)))
    assert batch["image"].shape == (4, 3, 32, 32)
    assert batch["targets"]["emotion"].dtype == torch.long and batch["targets"]["emotion"].shape == (4,)
    assert batch["targets"]["aesthetic"].dtype == torch.float32
    assert batch["targets"]["style"].shape == (4, 14)
    assert batch["mask"]["style"].all()
    source = SynthAE(12, size=32)
    assert [int(e) for e in batch["targets"]["emotion"]] == [source[i].labels["emotion"] for i in range(4)]


def test_missing_labels_are_masked_not_invented(tmp_path):
    from PIL import Image

    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)
    samples = [
        Sample("a", {"aesthetic": 1, "style": [1.0] + [0.0] * 13}, path),
        Sample("b", {"aesthetic": 0}, path),
    ]
    data = TaskDataset(samples, ["aesthetic", "style"], eval_transform(8, normalization="none"))
    assert bool(data[0]["mask"]["style"]) and not bool(data[1]["mask"]["style"])
    assert data[1]["targets"]["style"].sum() == 0


def test_task_without_any_label_is_reported():
    with pytest.raises(ValueError, match="'sentiment'.*no sample carries"):
        TaskDataset([Sample("a", {"emotion": 1}, None)], ["sentiment"])
    with pytest.raises(UnknownNameError, match="unknown task 'beauty'"):
        TaskDataset(SynthAE(2), ["beauty"])


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    with pytest.raises(DataFormatError, match="bad.jpg.*cannot be read"):
        Sample("x", {}, bad).load_image()


def test_train_transform_crops_flips_and_normalises():
    image = SynthAE(1, size=64)[0].load_image()
    torch.manual_seed(0)
    out = train_transform(56)(image)
    assert out.shape == (3, 56, 56)
    plain = eval_transform(64, normalization="none")(image)
    normalised = eval_transform(64)(image)
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    assert torch.allclose(normalised, (plain - mean) / std, atol=1e-5)
    torch.manual_seed(1)
    crops = {tuple(train_transform(56, flip=0.0, normalization="none")(image).flatten()[:20].tolist()) for _ in range(6)}
    assert len(crops) > 1, "random crops differ"
    flipped = train_transform(64, resize=64, flip=1.0, normalization="none")(image)
    assert torch.allclose(flipped, plain.flip(-1), atol=1e-6)


def test_train_transform_without_crop_only_flips():
    image = SynthAE(1, size=64)[0].load_image()
    plain = eval_transform(48, normalization="none")(image)
    torch.manual_seed(0)
    outputs = [train_transform(48, crop=False, normalization="none")(image) for _ in range(12)]
    assert all(o.shape == (3, 48, 48) for o in outputs)
    assert all(torch.allclose(o, plain, atol=1e-6) or torch.allclose(o, plain.flip(-1), atol=1e-6) for o in outputs)
    assert any(torch.allclose(o, plain.flip(-1), atol=1e-6) for o in outputs), "half the images are flipped"


@pytest.mark.parametrize("crop", [True, False])
def test_training_config_crop_switch(crop):
    from aelab.train import TrainConfig
    from aelab.train.data import build_datasets

    config = TrainConfig(n_images=100, image_size=32, augment=True, crop=crop,
                         normalization="none")
    train = build_datasets(config)["train"]
    image = train.samples[0].load_image()
    plain = eval_transform(32, normalization="none")(image)
    torch.manual_seed(0)
    outputs = [train.transform(image) for _ in range(8)]
    framed = [torch.allclose(o, plain, atol=1e-6) or torch.allclose(o, plain.flip(-1), atol=1e-6) for o in outputs]
    assert all(framed) == (not crop)
    if not crop:
        assert any(torch.allclose(o, plain.flip(-1), atol=1e-6) for o in outputs), "augmentation still flips"


def test_training_renders_synthae_up_front_in_processes_only_for_a_whole_run_of_many_images(monkeypatch, tmp_path):
    import aelab.train.data as train_data
    from aelab.data.synthetic.dataset import _RENDERED
    from aelab.train import TrainConfig
    from aelab.train.trainer import Trainer

    calls = []
    monkeypatch.setattr(SynthAE, "prerender", lambda self, workers: calls.append((self.n, workers)) or self.n)
    config = TrainConfig(n_images=1000, image_size=32, seed=3)
    assert train_data.prerender_synthae(config, workers=2) == 1000 and calls == [(1000, 2)]
    for skipped in (config.replace(n_images=999), config.replace(max_batches=2)):
        assert train_data.prerender_synthae(skipped, workers=2) == 0
    assert train_data.prerender_synthae(config, workers=1) == 0
    assert calls == [(1000, 2)]
    monkeypatch.undo()

    # the trainer does it before its first epoch: right after the call the memo of its (seed, size) holds every image
    monkeypatch.setattr(train_data, "PRERENDER_FROM", 10)
    monkeypatch.setattr("aelab.train.trainer.available_cores", lambda *_: 2)
    held = []

    def spy(config, workers):
        rendered = train_data.prerender_synthae(config, workers)
        held.append((workers, rendered, len(_RENDERED[(4127, 32)])))
        return rendered

    monkeypatch.setattr("aelab.train.trainer.prerender_synthae", spy)
    config = TrainConfig(n_images=80, image_size=32, seed=4127, epochs=1, batch_size=8, output=str(tmp_path))
    _RENDERED.pop((4127, 32), None)
    trainer = Trainer(config)
    assert held == [] and len(_RENDERED[(4127, 32)]) < 80  # not while the run is only set up
    trainer.run()
    assert held[0][0] == 2 and held[0][2] == 80 and held[0][1] > 0


def test_eval_modes_and_dataset_mean():
    samples = [SynthAE(4, size=48)[i] for i in range(4)]
    assert eval_transform(32, mode="center_crop")(samples[0].load_image()).shape == (3, 32, 32)
    mean_image = compute_mean_image(samples, 32)
    out = eval_transform(32, normalization="dataset", mean_image=mean_image)(samples[0].load_image())
    raw = eval_transform(32, normalization="none")(samples[0].load_image())
    assert torch.allclose(out, raw - mean_image)
    with pytest.raises(ValueError, match="mean_image"):
        eval_transform(32, normalization="dataset")
    with pytest.raises(UnknownNameError, match="normalization"):
        eval_transform(32, normalization="zscore")


def test_split_fractions_are_seeded_and_disjoint():
    parts = split_indices(1000, seed=3)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [700, 100, 200]
    joined = np.concatenate(list(parts.values()))
    assert len(np.unique(joined)) == 1000
    again, other = split_indices(1000, seed=3), split_indices(1000, seed=4)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    assert not np.array_equal(parts["test"], other["test"])


def test_stratified_split_and_kfold_keep_class_balance():
    labels = np.array([0] * 300 + [1] * 700)
    parts = split_indices(1000, seed=0, stratify=labels)
    assert labels[parts["test"]].mean() == pytest.approx(0.7, abs=0.01)
    folds = kfold_indices(labels, k=5, seed=0)
    assert len(folds) == 5
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(1000))
    for train, test in folds:
        assert not set(train) & set(test)
        assert labels[test].mean() == pytest.approx(0.7, abs=0.01)
    with pytest.raises(ValueError, match="at least k items of every class"):
        kfold_indices([0, 0, 0, 1], k=2)
    with pytest.raises(ValueError, match="summing to 1"):
        split_indices(10, fractions=(0.5, 0.5, 0.5))


def test_a_split_too_small_to_hold_every_class_is_made_at_random_instead_of_refused():
    labels = np.arange(100) % 8  # 8 classes; a 5 % validation part of 100 images holds 5
    parts = split_indices(100, fractions=(0.8, 0.05, 0.15), seed=0, stratify=labels)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [80, 5, 15]
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(100))
    assert sorted(np.bincount(labels[parts["test"]], minlength=8)) == [1] + [2] * 7  # the test part: stratified
    assert split_indices(100, fractions=(0.8, 0.05, 0.15), seed=0, stratify=labels)["val"].tolist() == \
        parts["val"].tolist()  # still seeded
    single = split_indices(10, seed=0, stratify=[0] * 9 + [1])  # a class of one image
    assert sum(len(v) for v in single.values()) == 10


def test_a_split_that_can_be_stratified_is_scikit_learns_stratified_split():
    from sklearn.model_selection import train_test_split

    labels = np.arange(200) % 8
    parts = split_indices(200, fractions=(0.7, 0.1, 0.2), seed=3, stratify=labels)
    rest, test = train_test_split(np.arange(200), test_size=40, random_state=3, stratify=labels)
    train, val = train_test_split(rest, test_size=20, random_state=4, stratify=labels[rest])
    assert [parts[k].tolist() for k in ("train", "val", "test")] == [sorted(train), sorted(val), sorted(test)]


def _benchmark(name):
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")
def test_pipeline_benchmark_prints_three_ways_and_judges_the_spread(monkeypatch, capsys, one_thread):
    bench = _benchmark("data_pipeline")
    assert "too wide to conclude" in bench.verdict([1.0, 2.0, 3.0], 3.0)
    assert bench.verdict([3.1, 3.2, 3.3], 3.0) == "goal >= 3×: met in every round"
    assert bench.verdict([2.8, 3.0, 3.1], 3.0) == "goal >= 3×: met in some rounds only"
    monkeypatch.setattr("sys.argv", ["data_pipeline", "--n", "3", "--rounds", "2", "--width", "40", "--height", "30",
                                     "--size", "24"])
    bench.main()
    out = capsys.readouterr().out
    for way in ("Pillow decode + transforms", "torchvision decode + transforms", "decoded cache"):
        assert way in out
    assert "per-round ratio to Pillow" in out and "\r" not in out


def test_paper_scale_benchmark_marks_small_settings_and_goals():
    bench = _benchmark("paper_scale")
    assert "goal >= 0.9×: not met" in bench.summary([0.5, 0.55, 0.6], 0.9)
    assert "[spread too wide to conclude]" in bench.summary([0.5, 1.0, 1.5], None)
    args = bench.argparse.Namespace(device="cpu", quick=False, size=None, batch=None, steps=None, rounds=None,
                                    amp_dtype="auto", channels_last=True)
    settings, note = bench.settings_from(args)
    assert (settings.size, settings.batch, settings.amp) == (64, 4, None) and "NOT the paper scale" in note
