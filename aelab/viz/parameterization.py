"""Image parameterisations for activation maximisation (docs/science.md §6).

Both are ``nn.Module`` s holding the parameters of N images (one row each) and producing RGB images
(N, 3, H, W) in [0, 1]:

* :class:`FourierImage` — Lucid's readable default: the image is the inverse real FFT (``norm="ortho"``) of a
  spectrum whose coefficients are scaled by ``1 / max(f, 1 / max(w, h))`` (f in cycles per pixel; decay power 1),
  initialised with sd 0.01, divided by 4 (Lucid's constant), passed through the colour decorrelation matrix
  ``[[.26, .09, .02], [.27, 0, -.05], [.27, -.09, .03]]`` divided by its largest column norm, then a sigmoid.
* :class:`PixelImage` — the paper's procedure (paper 004): raw values drawn from N(0, 1), mapped to [0, 1] by a
  sigmoid (``output="sigmoid"``, default: every value keeps a gradient) or by clamping (``output="clamp"``:
  the value is the pixel, cut to [0, 1]; cut values get no gradient).

Each image's initial values come from its own generator seeded by ``(seed, index)`` (``index`` its position in
the objective), so an image starts the same whether it is rendered alone or in a batch.

Each class is a builder of the registry :data:`PARAMETERIZATIONS` (name → class): ``build(indices, settings)``
makes the images of a render from its :class:`~aelab.viz.render_settings.RenderSettings`, ``default_optimizer``
names the optimiser ``optimizer="auto"`` picks, ``set_mean_colour(colours)`` moves each image's mean colour and
``set_images(images, rows)`` makes some images show given pictures (the starts of :mod:`aelab.viz.start`). A new
parameterisation is one class and one entry.

:meth:`resized` gives the same images at another size: a Fourier image keeps its spectrum (the low frequencies carry
over unchanged; with the 1/f scaling and the orthonormal FFT, parameter values are resolution-independent), a pixel
image is resampled bilinearly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aelab.errors import ConfigError

if TYPE_CHECKING:
    from aelab.viz.render_settings import RenderSettings

COLOR_CORRELATION_SVD_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / COLOR_CORRELATION_SVD_SQRT.norm(dim=0).max()
LUCID_MAGIC = 4.0  # Lucid divides the FFT image by 4 ("reduces saturation")
COLOUR_MARGIN = 0.01  # a flat start colour is kept this far inside (0, 1), where the sigmoid's inverse is finite


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (e.g. ``(seed, index, stream)``) with NumPy's SeedSequence."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts]).generate_state(1, np.uint64)[0]
               & 0x7FFFFFFFFFFFFFFF)


def image_generator(seed: int, index: int, stream: int) -> torch.Generator:
    """A CPU generator owned by image ``index`` of a render seeded ``seed``; ``stream`` separates uses
    (0: initial parameters, 1: transformation draws)."""
    return torch.Generator().manual_seed(derived_seed(seed, index, stream))


def _rows(indices: Sequence[int] | torch.Tensor | int, seed: int, shape: tuple[int, ...], sd: float) -> torch.Tensor:
    indices = range(indices) if isinstance(indices, int) else [int(i) for i in indices]
    if not len(indices):
        return torch.zeros((0, *shape))
    return torch.stack([sd * torch.randn(shape, generator=image_generator(seed, i, 0)) for i in indices])


def rfft2d_freqs(height: int, width: int) -> torch.Tensor:
    """|f| (cycles per pixel) of each coefficient of a ``rfft2`` of a height × width image."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def spectrum_scale(height: int, width: int, decay_power: float = 1.0) -> torch.Tensor:
    """Lucid's per-coefficient scale ``1 / max(f, 1 / max(w, h))^decay_power``, shape (height, width // 2 + 1)."""
    return 1.0 / torch.clamp(rfft2d_freqs(height, width), min=1.0 / max(height, width)) ** decay_power


def _embed(values: torch.Tensor, height: int, width: int, old_width: int) -> torch.Tensor:
    """Copy the rfft2-layout coefficients (..., h, w//2+1, 2) into a zero grid of (..., height, width//2+1, 2) at
    the same frequencies (cropping when the new grid is smaller). Growing, a Nyquist row or column of the old grid
    stands for both signs of its frequency: the row is split between them, the column halved (its mirror is
    implicit in the rfft layout)."""
    h, wf = values.shape[-3], values.shape[-2]
    out = values.new_zeros(*values.shape[:-3], height, width // 2 + 1, 2)
    rows = min(h, height)
    positive, negative = (rows + 1) // 2, rows // 2  # fftfreq order: 0, 1, ..., then the negative frequencies
    cols = min(wf, width // 2 + 1)
    out[..., :positive, :cols, :] = values[..., :positive, :cols, :]
    if negative:
        out[..., height - negative:, :cols, :] = values[..., h - negative:, :cols, :]
    if height > h and h % 2 == 0:  # old Nyquist row (-h/2) → half at +h/2, half at -h/2
        out[..., height - negative, :cols, :] *= 0.5
        out[..., h // 2, :cols, :] = out[..., height - negative, :cols, :]
    if width // 2 + 1 > wf and old_width % 2 == 0:  # the old last column was the Nyquist one
        out[..., wf - 1, :] *= 0.5
    return out


class FourierImage(nn.Module):
    """N images as scaled spectra (Lucid's ``fft_image`` + ``to_valid_rgb``; see the module docstring).

    ``spectrum``: parameter (N, 3, H, W // 2 + 1, 2) (real and imaginary parts). ``forward(rows=None)`` renders all
    images or the rows given (a 1-D index tensor) from the stored parameters; :meth:`render` renders given
    parameter values.
    """

    default_optimizer = "adam"

    def __init__(self, count: int | Sequence[int], size: int | tuple[int, int], seed: int = 0, sd: float = 0.01,
                 decay_power: float = 1.0, decorrelate: bool = True):
        super().__init__()
        self.height, self.width = (size, size) if isinstance(size, int) else size
        self.sd, self.decay_power, self.decorrelate = sd, decay_power, decorrelate
        shape = (3, self.height, self.width // 2 + 1, 2)
        self.spectrum = nn.Parameter(_rows(count, seed, shape, sd))
        self.register_buffer("scale", spectrum_scale(self.height, self.width, decay_power), persistent=False)

    @classmethod
    def build(cls, indices: Sequence[int], settings: RenderSettings) -> FourierImage:
        """The images ``indices`` of a render with ``settings`` (its size, seed and colour decorrelation)."""
        return cls(indices, settings.size, seed=settings.seed, decorrelate=settings.decorrelate)

    @property
    def parameter(self) -> nn.Parameter:
        return self.spectrum

    def render(self, spectrum: torch.Tensor) -> torch.Tensor:
        scaled = torch.view_as_complex(spectrum.contiguous()) * self.scale.to(spectrum.device)
        image = torch.fft.irfft2(scaled, s=(self.height, self.width), norm="ortho") / LUCID_MAGIC
        if self.decorrelate:
            image = torch.einsum("nchw,dc->ndhw", image, COLOR_CORRELATION.to(image))
        return torch.sigmoid(image)

    def forward(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        return self.render(self.spectrum if rows is None else self.spectrum[rows])

    def before_output(self, values: torch.Tensor) -> torch.Tensor:
        """What colours or images ``values`` ``(N, 3, …)`` in (0, 1) are before the sigmoid and the colour
        decorrelation, times Lucid's constant: what the inverse FFT of the scaled spectrum must give for the
        image to show them (values kept :data:`COLOUR_MARGIN` inside (0, 1), where the logit is finite)."""
        before_sigmoid = torch.logit(values.clamp(COLOUR_MARGIN, 1 - COLOUR_MARGIN)).to(self.spectrum)
        if self.decorrelate:
            before_sigmoid = torch.einsum("nc...,dc->nd...", before_sigmoid,
                                          torch.linalg.inv(COLOR_CORRELATION).to(self.spectrum))
        return before_sigmoid * LUCID_MAGIC

    @torch.no_grad()
    def set_mean_colour(self, colours: torch.Tensor) -> None:
        """Make each image's flat part the colour ``colours`` (N, 3) in (0, 1): its zero-frequency coefficients
        are set so that the image before the sigmoid averages ``logit(colour)``; every other coefficient (the
        detail) is kept. With the orthonormal FFT the image's mean is ``X[0, 0] / sqrt(H·W)`` of the scaled
        spectrum X (:meth:`before_output` undoes the rest)."""
        scale = float(self.scale[0, 0])
        self.spectrum[:, :, 0, 0, 0] = self.before_output(colours) * (self.height * self.width) ** 0.5 / scale
        self.spectrum[:, :, 0, 0, 1] = 0.0

    @torch.no_grad()
    def set_images(self, images: torch.Tensor, rows: torch.Tensor) -> None:
        """Make images ``rows`` (a boolean mask or indices of this module's images) render as ``images``
        (one per selected row, (n, 3, H, W) in (0, 1)): the forward pass inverted — :meth:`before_output`, the
        orthonormal real FFT, divided by the 1/f scale."""
        spectrum = torch.fft.rfft2(self.before_output(images), norm="ortho") / self.scale.to(self.spectrum.device)
        self.spectrum[rows] = torch.view_as_real(spectrum).to(self.spectrum)

    def resized_parameters(self, values: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
        """``values`` (…, 3, h, w//2+1, 2) of this size as the parameters of the same images at ``size``: the
        spectrum is kept (new frequencies start at 0), rescaled for the new FFT size and 1/f scale."""
        height, width = (size, size) if isinstance(size, int) else size
        new_scale = spectrum_scale(height, width, self.decay_power).to(values.device)
        spectrum = values * self.scale.to(values.device)[..., None]  # the actual (ortho-normalised) spectrum
        spectrum = _embed(spectrum, height, width, self.width) * np.sqrt(height * width / (self.height * self.width))
        return spectrum / new_scale[..., None]

    def resized(self, size: int | tuple[int, int]) -> FourierImage:
        """A FourierImage of the same images at ``size`` (see :meth:`resized_parameters`)."""
        new = FourierImage(0, size, sd=self.sd, decay_power=self.decay_power, decorrelate=self.decorrelate)
        new.spectrum = nn.Parameter(self.resized_parameters(self.spectrum.detach(), size))
        return new.to(self.spectrum.device)

    def extra_repr(self) -> str:
        return f"count={len(self.spectrum)}, size=({self.height}, {self.width}), decorrelate={self.decorrelate}"


class PixelImage(nn.Module):
    """N images as raw values from N(0, 1) (paper 004), shown through a sigmoid or a clamp to [0, 1]."""

    OUTPUTS = ("sigmoid", "clamp")
    default_optimizer = "ascent"

    def __init__(self, count: int | Sequence[int], size: int | tuple[int, int], seed: int = 0, sd: float = 1.0,
                 output: str = "sigmoid"):
        super().__init__()
        if output not in self.OUTPUTS:
            raise ConfigError("PixelImage output", output, f"one of: {', '.join(self.OUTPUTS)}")
        self.height, self.width = (size, size) if isinstance(size, int) else size
        self.sd, self.output = sd, output
        self.pixels = nn.Parameter(_rows(count, seed, (3, self.height, self.width), sd))

    @classmethod
    def build(cls, indices: Sequence[int], settings: RenderSettings) -> PixelImage:
        """The images ``indices`` of a render with ``settings`` (its size, seed and output mapping)."""
        return cls(indices, settings.size, seed=settings.seed, output=settings.pixel_output)

    @property
    def parameter(self) -> nn.Parameter:
        return self.pixels

    def render(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(pixels) if self.output == "sigmoid" else pixels.clamp(0.0, 1.0)

    def forward(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        return self.render(self.pixels if rows is None else self.pixels[rows])

    @torch.no_grad()
    def set_mean_colour(self, colours: torch.Tensor) -> None:
        """Shift each image's raw values so that their mean per channel is the colour ``colours`` (N, 3) in
        (0, 1) before the output mapping (its logit for ``"sigmoid"``, itself for ``"clamp"``); the spread of the
        draw is kept. So the image shown is that colour only on average over the draw: with paper 004's N(0, 1)
        values and ``"clamp"``, the cut-off tails pull the shown mean towards 0.5 (0.2 shows as about 0.4)."""
        self.pixels += (self.before_output(colours) - self.pixels.mean(dim=(2, 3)))[:, :, None, None]

    def before_output(self, values: torch.Tensor) -> torch.Tensor:
        """The raw values that show colours or images ``values`` in (0, 1) (kept :data:`COLOUR_MARGIN` inside):
        their logit for ``"sigmoid"``, themselves for ``"clamp"``."""
        values = values.clamp(COLOUR_MARGIN, 1 - COLOUR_MARGIN).to(self.pixels)
        return torch.logit(values) if self.output == "sigmoid" else values

    @torch.no_grad()
    def set_images(self, images: torch.Tensor, rows: torch.Tensor) -> None:
        """Make images ``rows`` (a boolean mask or indices) show ``images`` ((n, 3, H, W) in (0, 1)):
        :meth:`before_output`."""
        self.pixels[rows] = self.before_output(images)

    def resized_parameters(self, values: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
        """``values`` (…, 3, h, w) resampled bilinearly to ``size``."""
        height, width = (size, size) if isinstance(size, int) else size
        return F.interpolate(values, size=(height, width), mode="bilinear", align_corners=False)

    def resized(self, size: int | tuple[int, int]) -> PixelImage:
        new = PixelImage(0, size, sd=self.sd, output=self.output)
        new.pixels = nn.Parameter(self.resized_parameters(self.pixels.detach(), size))
        return new.to(self.pixels.device)

    def extra_repr(self) -> str:
        return f"count={len(self.pixels)}, size=({self.height}, {self.width}), output={self.output!r}"


PARAMETERIZATIONS: dict[str, type[FourierImage] | type[PixelImage]] = {"fourier": FourierImage, "pixel": PixelImage}
"""Name → parameterisation class (a builder: ``build(indices, settings)``, ``default_optimizer``)."""
