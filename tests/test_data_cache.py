"""JPEG decoding with torchvision (same pixels as Pillow) and the decoded cache (write, read back, train from it)."""

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from aelab import cli
from aelab.data import SynthAE, TaskDataset, read_dataset, train_transform
from aelab.data import images as image_module
from aelab.data.cache import FITS, CachedImage, IMAGES, INDEX, cache_bytes, open_cache, write_cache
from aelab.data.images import decode_rgb_batch, open_rgb, read_rgb_tensor, rgb_tensor
from aelab.errors import AelabError, ConfigError, DataFormatError, DatasetNotFoundError, UnknownNameError

EXIF_ORIENTATION = 0x0112
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")


def _photo(width: int = 80, height: int = 60) -> Image.Image:
    """Smooth colours plus grain, so that JPEG rounding and chroma upsampling matter."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))


def _exif_rotated(path):
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    _photo().save(path, "JPEG", exif=exif.tobytes())


FIXTURES = {
    "baseline.jpg": lambda p: _photo().save(p, "JPEG", quality=90),
    "progressive.jpg": lambda p: _photo().save(p, "JPEG", quality=80, progressive=True),
    "greyscale.jpg": lambda p: _photo().convert("L").save(p, "JPEG"),
    "cmyk.jpg": lambda p: _photo().convert("CMYK").save(p, "JPEG"),
    "exif_rotated.jpg": _exif_rotated,
    "picture.png": lambda p: _photo().save(p, "PNG"),
}
BY_TORCHVISION = {"baseline.jpg", "progressive.jpg", "greyscale.jpg", "exif_rotated.jpg"}


@pytest.fixture
def counted_decoder(monkeypatch):
    calls = []
    original = image_module.decode_jpeg

    def counting(data, *args, **kwargs):
        calls.append(1)
        return original(data, *args, **kwargs)

    monkeypatch.setattr(image_module, "decode_jpeg", counting)
    return calls


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_torchvision_decoding_gives_pillows_pixels(tmp_path, name, counted_decoder):
    path = tmp_path / name
    FIXTURES[name](path)
    expected = rgb_tensor(open_rgb(path))
    decoded = read_rgb_tensor(path)
    assert decoded.dtype == torch.uint8 and decoded.shape == expected.shape == (3, 60, 80)
    assert (decoded.int() - expected.int()).abs().max() <= 1
    assert bool(counted_decoder) == (name in BY_TORCHVISION), "JPEGs in RGB or grey go through torchvision only"
    batch = decode_rgb_batch([path, path])
    assert all(torch.equal(b, decoded) for b in batch)


def test_broken_jpeg_is_reported_as_pillow_reports_it(tmp_path):
    path = tmp_path / "cut.jpg"
    FIXTURES["baseline.jpg"](path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataFormatError, match="cut.jpg.*cannot be decoded"):
        read_rgb_tensor(path)
    with pytest.raises(DataFormatError, match="nowhere.jpg.*does not exist"):
        read_rgb_tensor(tmp_path / "nowhere.jpg")


# ------------------------------------------------------------------------------------------------ the cache
@pytest.fixture(scope="module")
def ava_root(tmp_path_factory):
    return SynthAE(6, size=40, seed=1).export(tmp_path_factory.mktemp("ava"), "ava")


@pytest.mark.parametrize("fit", sorted(FITS))
def test_cache_holds_the_decoded_images_and_labels(ava_root, tmp_path, fit):
    folder = write_cache("ava", ava_root, 32, tmp_path / "cache", fit=fit)
    originals = read_dataset("ava", ava_root)
    cached = read_dataset("ava", ava_root, cache=folder)
    assert [s.id for s in cached] == [s.id for s in originals]
    assert [s.labels for s in cached] == [s.labels for s in originals]
    assert [s.meta for s in cached] == [s.meta for s in originals]
    for sample, original in zip(cached, originals):
        expected = FITS[fit](rgb_tensor(open_rgb(original.image)), 32)
        assert torch.equal(sample.image.tensor(), expected)
        assert sample.load_image().size == (32, 32)
    assert (folder / IMAGES).stat().st_size >= cache_bytes(len(originals), 32)
    assert cache_bytes(10_000, 256) == 256 * 256 * 3 * 10_000


def test_training_items_from_the_cache_match_the_files(ava_root, tmp_path, monkeypatch):
    folder = write_cache("ava", ava_root, 40, tmp_path / "cache")
    monkeypatch.setattr(CachedImage, "__call__", lambda self: pytest.fail("a cached image went through PIL"))
    transform = train_transform(35, resize=40)
    from_files = TaskDataset(read_dataset("ava", ava_root), ["aesthetic"], transform)
    from_cache = TaskDataset(read_dataset("ava", ava_root, cache=folder), ["aesthetic"], transform)
    for i in range(len(from_files)):
        torch.manual_seed(i)
        expected = from_files[i]
        torch.manual_seed(i)
        item = from_cache[i]
        assert torch.allclose(item["image"], expected["image"], atol=1.5 / 255 / 0.224)
        assert torch.equal(item["targets"]["aesthetic"], expected["targets"]["aesthetic"])


def test_cached_image_pickles_without_its_pixels(ava_root, tmp_path):
    sample = read_dataset("ava", ava_root, cache=write_cache("ava", ava_root, 32, tmp_path / "cache"))[0]
    data = pickle.dumps(sample.image)
    assert len(data) < 32 * 32 * 3
    assert torch.equal(pickle.loads(data).tensor(), sample.image.tensor())


def test_same_cache_is_reused_and_a_different_one_is_refused(ava_root, tmp_path):
    folder = write_cache("ava", ava_root, 32, tmp_path / "cache")
    before = {name: (folder / name).read_bytes() for name in (IMAGES, INDEX)}
    stamp = (folder / IMAGES).stat().st_mtime_ns
    assert write_cache("ava", ava_root, 32, folder) == folder
    assert (folder / IMAGES).stat().st_mtime_ns == stamp
    with pytest.raises(AelabError, match="holds a different decoded cache.*size 32 there, 24 asked"):
        write_cache("ava", ava_root, 24, folder)
    with pytest.raises(AelabError, match="holds a different decoded cache.*fit 'resize' there"):
        write_cache("ava", ava_root, 32, folder, fit="center_crop")
    assert {name: (folder / name).read_bytes() for name in (IMAGES, INDEX)} == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(AelabError, match="holds other files \\(notes.txt\\)"):
        write_cache("ava", ava_root, 32, other)
    assert (other / "notes.txt").read_text() == "mine"


def test_bad_input_is_one_clear_error(ava_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        write_cache("ava", tmp_path / "missing", 32, tmp_path / "c")
    with pytest.raises(UnknownNameError, match="unknown data set kind 'avaa'"):
        write_cache("avaa", ava_root, 32, tmp_path / "c")
    with pytest.raises(ConfigError, match="size: got 4, expected an integer >= 8"):
        write_cache("ava", ava_root, 4, tmp_path / "c")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(AelabError, match="cannot write the cache there"):
        write_cache("ava", ava_root, 32, blocker / "cache")
    with pytest.raises(AelabError, match="is a file; expected a folder"):
        write_cache("ava", ava_root, 32, blocker)
    with pytest.raises(AelabError, match="no decoded cache there"):
        open_cache(tmp_path)
    folder = write_cache("ava", ava_root, 32, tmp_path / "cache")
    with pytest.raises(ConfigError, match="a cache of the 'fi' data set; it holds 'ava'"):
        read_dataset("fi", ava_root, cache=folder)
    with pytest.raises(ConfigError, match="reader options the cache was written with"):
        read_dataset("ava", ava_root, cache=folder, subset="style")


def test_undecodable_image_is_skipped_with_one_warning(tmp_path):
    root = SynthAE(4, size=40, seed=2).export(tmp_path / "ava", "ava")
    broken = sorted((root / "images").iterdir())[1]
    data = broken.read_bytes()
    broken.write_bytes(data[:len(data) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = write_cache("ava", root, 32, tmp_path / "cache")
    assert sum("could not be decoded" in str(w.message) for w in caught) == 1
    index = open_cache(folder).index
    assert broken.stem not in [e["id"] for e in index["entries"]] and len(index["entries"]) == 3
    assert index["skipped"][0]["id"] == broken.stem


def test_cache_command(ava_root, tmp_path, capsys):
    output = tmp_path / "cache"
    assert cli.main(["cache", str(ava_root), "--kind", "ava", "--size", "32", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "decoded cache of 6 ava images at 32×32" in out and "{cache: " in out
    assert cli.main(["cache", str(tmp_path / "missing"), "--kind", "ava", "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aelab cache: error:") and "missing is not a folder" in err and "\n" not in err
    assert cli.main(["cache", str(ava_root), "--kind", "ava", "--size", "48", "--output", str(output)]) == 2
    assert "holds a different decoded cache" in capsys.readouterr().err


def test_a_run_trains_from_the_cache_given_in_data_options(tmp_path, one_thread):
    from aelab.train import TrainConfig, fit
    from aelab.train.data import build_datasets

    root = SynthAE(24, size=40, seed=3).export(tmp_path / "ava", "ava")
    folder = write_cache("ava", root, 37, tmp_path / "cache")
    config = TrainConfig(data="ava", root=str(root), data_options={"cache": str(folder)}, tasks=["aesthetic"],
                         backbone="tiny", arch="single", image_size=32, epochs=1, batch_size=8, progress=False)
    datasets = build_datasets(config)
    assert all(isinstance(s.image, CachedImage) for d in datasets.values() for s in d.samples)
    assert datasets["train"][0]["image"].shape == (3, 32, 32)
    run = fit(config.replace(output=str(tmp_path / "runs")))
    assert math.isfinite(run.results["test"]["metrics"]["aesthetic"]["accuracy"])
