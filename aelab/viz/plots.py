"""Matplotlib figures a person would rather see than read."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from aelab.data.sample import Sample
from aelab.tasks import AESTHETIC_CLASSES, EMOTIONS, POSITIVE_EMOTIONS, SENTIMENTS, STYLES


def label_caption(labels: dict, keys: Sequence[str] = ("emotion", "aesthetic_score", "style")) -> str:
    """A short human-readable caption of a sample's canonical labels."""
    parts = []
    for key in keys:
        if key not in labels:
            continue
        value = labels[key]
        if key == "emotion":
            parts.append(EMOTIONS[value])
        elif key == "aesthetic":
            parts.append(f"{AESTHETIC_CLASSES[value]} aesth.")
        elif key == "aesthetic_score":
            parts.append(f"score {value:.1f} ({AESTHETIC_CLASSES[int(value > 5)]})")
        elif key == "sentiment":
            parts.append(SENTIMENTS[value])
        elif key == "style":
            tags = [STYLES[i].replace("_", " ") for i, v in enumerate(value) if v > 0.5]
            if tags:
                parts.append(", ".join(tags[:2]) + ("…" if len(tags) > 2 else ""))
    return "\n".join(parts)


def sample_grid(
    samples: Sequence[Sample],
    columns: int = 8,
    keys: Sequence[str] = ("emotion", "aesthetic_score", "style"),
    cell_inches: float = 1.6,
    title: str | None = None,
) -> Figure:
    """A labelled grid of sample images: the first thing a student looks at."""
    count = len(samples)
    if count == 0:
        raise ValueError("sample_grid needs at least one sample")
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * cell_inches, rows * (cell_inches + 0.5)),
                                squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, sample in zip(axes.flat, samples):
        ax.imshow(sample.load_image())
        ax.set_title(label_caption(sample.labels, keys), fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def label_statistics_figure(summary: dict) -> Figure:
    """Three panels from :func:`aelab.data.synthetic.stats.label_summary`: emotion counts, high-aesthetic
    rate per emotion (positive emotions in warm colours) and style tag rates."""
    figure, (counts, rates, styles) = plt.subplots(1, 3, figsize=(15, 3.8))
    names = list(summary["emotion_counts"])
    colours = ["tab:orange" if name in POSITIVE_EMOTIONS else "tab:blue" for name in names]
    counts.bar(names, list(summary["emotion_counts"].values()), color=colours)
    counts.set_title("images per emotion")
    rates.bar(names, list(summary["high_rate_by_emotion"].values()), color=colours)
    rates.axhline(summary["high_rate"], color="grey", linestyle="--", label="all images")
    rates.set_ylim(0, 1)
    rates.set_title("share rated high (mean score > 5)")
    rates.legend(fontsize=8)
    styles.barh([s.replace("_", " ") for s in summary["style_rates"]], list(summary["style_rates"].values()))
    styles.set_title("style tag rate")
    for ax in (counts, rates):
        ax.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    return figure
