"""Figures saved as PNG files that keep their titles as text, so the number a title claims can be read back from
the file itself (a report, a test) instead of from its pixels.

:func:`save_figure` writes the figure's title (``suptitle``) into the PNG text chunk ``Title`` and every axes title,
as a JSON list into ``Description``; :func:`saved_titles` reads them back. A title too long for the figure's width is
wrapped onto several lines before saving, each of its own lines on its own (the text kept in the file is the title
on one line).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from matplotlib.figure import Figure

from aelab.errors import AelabError


def figure_titles(figure: Figure) -> list[str]:
    """The figure's title (empty when it has none) followed by the non-empty titles of its axes, in axes order."""
    main = figure.get_suptitle()
    axes = [ax.get_title(loc) for ax in figure.axes for loc in ("left", "center", "right")]
    return [main] + [title for title in axes if title]


AVERAGE_CHARACTER = 0.55
"""Width of an average character, in units of the font size (points)."""


def wrap_title(figure: Figure) -> str:
    """Wrap each line of the figure's title onto as many lines as the figure's width needs (a line the title starts
    itself, e.g. a comment under a check, still starts a line; layout redone); return the title on one line."""
    current = figure.get_suptitle()
    title = " ".join(current.split())
    if not title:
        return title
    size = next(t.get_fontsize() for t in figure.texts if t.get_text() == current)  # the suptitle is a figure text
    width = max(20, int(figure.get_figwidth() * 72 / (AVERAGE_CHARACTER * size)))
    wrapped = "\n".join(textwrap.fill(" ".join(line.split()), width) for line in current.splitlines() if line.strip())
    if wrapped != current:
        figure.suptitle(wrapped, fontsize=size)
        figure.tight_layout()
    return title


def save_figure(figure: Figure, path: str | Path, dpi: int = 90) -> Path:
    """Save ``figure`` as a PNG at ``path`` with its titles (:func:`figure_titles`) kept as text in the file, the
    figure's title wrapped to its width (:func:`wrap_title`)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise AelabError(f"{path}: a figure with its titles is saved as .png, not {path.suffix or 'no suffix'!r}")
    title = wrap_title(figure)
    _, *axes = figure_titles(figure)
    figure.savefig(path, dpi=dpi, format="png", metadata={"Title": title, "Description": json.dumps(axes)})
    return path


def saved_titles(path: str | Path) -> list[str]:
    """The titles :func:`save_figure` kept in the PNG at ``path``: the figure's title first, then its axes'."""
    from PIL import Image

    with Image.open(path) as image:
        text = dict(getattr(image, "text", {}) or {})
    if "Title" not in text:
        raise AelabError(f"{path}: no titles kept in the file (save it with aelab.viz.figure_file.save_figure)")
    return [text["Title"]] + list(json.loads(text.get("Description") or "[]"))
