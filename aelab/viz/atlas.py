"""Layer atlases: every channel visualisation of one layer, computed once and cached on disk (docs/science.md §6).

``layer_atlas(model, layer, settings, cache_dir)`` renders all channels of ``layer`` (C, 3, H, W) in batches with
a progress bar and keeps them in ``cache_dir/<layer>-<key>/``, where ``key`` hashes the model (its checkpoint
file's SHA-256, or its state dict), the layer, the input normalisation and the render settings (all but
``batch_size``, which does not change an image). Each finished batch is written at once, atomically
(``part-<first>-<stop>.pt``), so an interrupted build resumes with the batches it has; a complete atlas is
consolidated into one ``atlas.pt``. A later call, in any notebook or process, loads it without rendering.

Images are stored as 8-bit RGB and always returned from that form (float32 in [0, 1]), so a freshly built atlas
equals the one loaded later. Image ``k`` is rendered with seed index ``k`` (its channel), so any batching, and any
resumption, gives the same images as one ``render_channels`` call.

``run_atlas(run_folder, layer)`` does the same for a trained run (cached in ``<run_folder>/atlas/``), and
``atlas_sheet`` draws an atlas with titles that name the layer and each channel.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import nn
from tqdm.auto import tqdm

from aelab.errors import AelabError
from aelab.load import LoadedRun, load_run
from aelab.notebook import write_json_atomic
from aelab.run_folder import ATLAS_FOLDER
from aelab.train.runs import load_checkpoint, save_checkpoint
from aelab.viz.objectives import channel
from aelab.viz.probe import LayerProbe, model_normalization, normalization_key
from aelab.viz.render import RenderSettings, auto_batch_size, frozen, layer_channels, model_device, render

ATLAS_FORMAT = 1  # part of every key: bump when the stored images would change for the same settings
ATLAS_SETTINGS = RenderSettings(steps=64, size=64)
"""How the explorer renders a layer's atlas (with its own seed), the settings notebooks 02 and 03 use by default:
64 steps at SynthAE's 64 px. The reference run ships the atlas of its deepest probe layer, the explorer's first
view, rendered with these."""


# ---- keys ----------------------------------------------------------------------------------------------------


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (a checkpoint's identity)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def state_dict_hash(model: nn.Module) -> str:
    """SHA-256 of a model's state dict: every entry's name, dtype, shape and bytes, in order."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def atlas_key(model_key: str, layer: str, settings: RenderSettings, normalization: list | dict) -> str:
    """Hex key of one atlas: model identity, layer, render settings (:meth:`RenderSettings.key`: all but the batch
    size, and the start only when not the default), input normalisation (:func:`~aelab.viz.probe.normalization_key`)."""
    payload = {"format": ATLAS_FORMAT, "model": model_key, "layer": layer, "settings": settings.key(),
               "normalization": normalization}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


# ---- storage -------------------------------------------------------------------------------------------------


def _to_bytes(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def _from_bytes(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255


class _AtlasFolder:
    """The files of one atlas: ``meta.json``, ``part-<first>-<stop>.pt`` per finished batch, ``atlas.pt`` when whole."""

    def __init__(self, folder: Path, channels: int, size: int):
        self.folder, self.channels, self.size = folder, channels, size

    @property
    def whole(self) -> Path:
        return self.folder / "atlas.pt"

    def load_whole(self) -> torch.Tensor | None:
        if not self.whole.exists():
            return None
        images = self._read(self.whole, 0, self.channels)
        return images

    def _read(self, path: Path, first: int, stop: int) -> torch.Tensor | None:
        try:
            images = load_checkpoint(path)["images"]
        except (AelabError, KeyError, TypeError) as error:
            warnings.warn(f"ignoring unreadable atlas file {path} ({error}); it will be rendered again", stacklevel=3)
            return None
        if tuple(images.shape) != (stop - first, 3, self.size, self.size) or images.dtype != torch.uint8:
            warnings.warn(f"ignoring atlas file {path}: shape {tuple(images.shape)} is not "
                          f"{(stop - first, 3, self.size, self.size)}", stacklevel=3)
            return None
        return images

    def load_parts(self) -> dict[int, torch.Tensor]:
        """Finished channels ``{channel: uint8 image}`` from the part files."""
        done: dict[int, torch.Tensor] = {}
        for path in sorted(self.folder.glob("part-*.pt")):
            match = re.fullmatch(r"part-(\d+)-(\d+)\.pt", path.name)
            if not match:
                continue
            first, stop = int(match[1]), int(match[2])
            if not 0 <= first < stop <= self.channels:
                continue
            images = self._read(path, first, stop)
            if images is not None:
                done.update({first + k: images[k] for k in range(stop - first)})
        return done

    def write_part(self, first: int, images: torch.Tensor) -> None:
        save_checkpoint({"images": images}, self.folder / f"part-{first:05d}-{first + len(images):05d}.pt")

    def write_meta(self, meta: dict) -> None:
        """``meta.json``: what the key stands for, for a person browsing the cache."""
        if not (self.folder / "meta.json").exists():
            write_json_atomic(meta, self.folder / "meta.json")

    def consolidate(self, images: torch.Tensor) -> None:
        save_checkpoint({"images": images}, self.whole)
        for path in self.folder.glob("part-*.pt"):
            path.unlink(missing_ok=True)


# ---- entry points --------------------------------------------------------------------------------------------


def _missing_runs(missing: list[int], batch: int) -> list[list[int]]:
    """Consecutive runs of the missing channels, cut into batches of at most ``batch``."""
    runs: list[list[int]] = []
    for c in missing:
        if runs and runs[-1][-1] == c - 1 and len(runs[-1]) < batch:
            runs[-1].append(c)
        else:
            runs.append([c])
    return runs


def layer_atlas(model: nn.Module, layer: str, settings: RenderSettings = RenderSettings(),
                cache_dir: str | Path | None = None, key: str | None = None, progress: bool = True,
                callback: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Channel visualisations (C, 3, size, size) in [0, 1] of every channel of ``layer`` (see the module docstring).

    ``cache_dir``: folder of the cache (None: render without caching). ``key``: the model's identity (e.g. its
    checkpoint file's :func:`file_hash`); default the hash of its state dict. ``callback(done, total)``, if given,
    is called with the channels finished so far before rendering starts and after every batch (a progress bar's
    value and maximum); an atlas loaded whole from the cache renders nothing and never calls it.
    """
    channels = layer_channels(model, layer, settings.size)
    report = callback or (lambda done, total: None)
    if cache_dir is None:
        report(0, channels)
        atlas = _from_bytes(_to_bytes(_render(model, layer, list(range(channels)), settings, progress)))
        report(channels, channels)
        return atlas
    normalization = normalization_key(model_normalization(model))
    model_key = key if key is not None else state_dict_hash(model)
    digest = atlas_key(model_key, layer, settings, normalization)
    store = _AtlasFolder(Path(cache_dir) / f"{_safe(layer)}-{digest}", channels, settings.size)
    whole = store.load_whole()
    if whole is not None:
        return _from_bytes(whole)
    store.write_meta({"layer": layer, "channels": channels, "model": model_key, "settings": settings.key(),
                      "normalization": normalization, "format": ATLAS_FORMAT,
                      "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    done = store.load_parts()
    missing = [c for c in range(channels) if c not in done]
    if missing:
        batch = settings.batch_size
        if batch is None:
            with frozen(model):
                batch = auto_batch_size(LayerProbe(model, layer, normalize=True), settings, model_device(model),
                                        len(missing))
        report(channels - len(missing), channels)
        with tqdm(total=channels, initial=channels - len(missing), desc=f"atlas {layer}", unit="channel",
                  disable=not progress) as bar:
            for run in _missing_runs(missing, batch):
                images = _to_bytes(render(model, channel(layer, run), replace(settings, batch_size=len(run)),
                                          indices=run))
                store.write_part(run[0], images)
                done.update({c: images[k] for k, c in enumerate(run)})
                bar.update(len(run))
                report(len(done), channels)
    atlas = torch.stack([done[c] for c in range(channels)])
    store.consolidate(atlas)
    return _from_bytes(atlas)


def given_or_layer_atlas(model: nn.Module, layer: str, settings: RenderSettings,
                         atlases: Mapping[str, torch.Tensor] | None = None,
                         cache_dir: str | Path | None = None) -> torch.Tensor:
    """``atlases[layer]`` when the caller already holds it, else :func:`layer_atlas` of ``layer`` rendered with
    ``settings`` (cached in ``cache_dir``, no progress bar)."""
    atlas = atlases.get(layer) if atlases else None
    return layer_atlas(model, layer, settings, cache_dir, progress=False) if atlas is None else atlas


def _render(model: nn.Module, layer: str, channels: list[int], settings: RenderSettings, progress: bool):
    return render(model, channel(layer, channels), settings, progress=progress, indices=channels)


def run_atlas(run_folder: str | Path | LoadedRun, layer: str, settings: RenderSettings = RenderSettings(),
              checkpoint: str = "best", device: str = "auto", progress: bool = True,
              cache_dir: str | Path | None = None) -> torch.Tensor:
    """:func:`layer_atlas` of a trained run's model (``checkpoint``: best, else last), cached in
    ``<run_folder>/atlas/`` and keyed by the checkpoint file's hash. Images go through the normalisation the run
    was trained with (config ``normalization``; see :func:`aelab.load_run`). ``run_folder`` may also be a
    :class:`~aelab.load.LoadedRun`."""
    loaded = load_run(run_folder, checkpoint, device)
    folder = loaded.folder / ATLAS_FOLDER if cache_dir is None else Path(cache_dir)
    key = f"checkpoint:{file_hash(loaded.checkpoint)}"
    return layer_atlas(loaded.model, layer, settings, cache_dir=folder, key=key, progress=progress)


def atlas_sheet(atlas: torch.Tensor, columns: int = 16, title: str | None = None, layer: str | None = None,
                channels: list[int] | None = None, cell_inches: float = 0.9) -> Figure:
    """A grid of channel images (N, 3, H, W) in [0, 1], each titled with its channel; the figure title says the
    layer (``channels``: the channel of each image, default 0..N-1)."""
    import matplotlib.pyplot as plt

    if atlas.dim() != 4 or atlas.shape[1] != 3:
        raise ValueError(f"atlas_sheet needs images (N, 3, H, W), got shape {tuple(atlas.shape)}")
    count = len(atlas)
    channels = list(range(count)) if channels is None else list(channels)
    if len(channels) != count:
        raise ValueError(f"{count} images but {len(channels)} channel labels")
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * cell_inches, rows * (cell_inches + 0.2)),
                                squeeze=False)
    pictures = atlas.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    for ax in axes.flat:
        ax.axis("off")
    for ax, picture, c in zip(axes.flat, pictures, channels):
        ax.imshow(picture)
        ax.set_title(f"ch {c}", fontsize=6, pad=2)
    heading = f"layer {layer}: channel visualisations" if layer else "channel visualisations"
    figure.suptitle(heading if title is None else f"{title} — {heading}", fontsize=9)
    figure.tight_layout(pad=0.3)
    return figure
