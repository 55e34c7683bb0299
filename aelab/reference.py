"""Numbers the source papers report (docs/science.md §5), to print next to what a run measures.

Values are percentages; keys are aelab's arch / balancer names. :func:`paper_numbers` looks a row up, the one way
every table next to a run (sweeps, notebooks, the selection ablation) reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aelab.errors import UnknownNameError

PAPER_000_ARCHITECTURES_RESNET50 = {
    # Shen et al. 2022, Table 5, ResNet50 on UAE: aesthetic acc / F1, emotion acc / F1
    "single": {"aesthetic_accuracy": 79.28, "aesthetic_f1": 77.31, "emotion_accuracy": 64.36, "emotion_f1": 54.27},
    "share_split": {"aesthetic_accuracy": 79.39, "aesthetic_f1": 77.38, "emotion_accuracy": 64.42,
                    "emotion_f1": 54.09},
    "cross_stitch": {"aesthetic_accuracy": 79.95, "aesthetic_f1": 77.74, "emotion_accuracy": 64.57,
                     "emotion_f1": 54.37},
    "nddr": {"aesthetic_accuracy": 79.86, "aesthetic_f1": 77.52, "emotion_accuracy": 64.87, "emotion_f1": 54.81},
    "afi": {"aesthetic_accuracy": 80.55, "aesthetic_f1": 78.61, "emotion_accuracy": 65.85, "emotion_f1": 54.90},
}

PAPER_000_ARCHITECTURES_VGG16 = {
    "single": {"aesthetic_accuracy": 79.23, "aesthetic_f1": 77.18, "emotion_accuracy": 64.33, "emotion_f1": 54.46},
    "share_split": {"aesthetic_accuracy": 79.41, "aesthetic_f1": 77.43, "emotion_accuracy": 64.67,
                    "emotion_f1": 54.21},
    "cross_stitch": {"aesthetic_accuracy": 79.82, "aesthetic_f1": 77.48, "emotion_accuracy": 65.24,
                     "emotion_f1": 54.65},
    "nddr": {"aesthetic_accuracy": 79.96, "aesthetic_f1": 77.50, "emotion_accuracy": 64.92, "emotion_f1": 54.59},
    "afi": {"aesthetic_accuracy": 80.37, "aesthetic_f1": 78.32, "emotion_accuracy": 65.87, "emotion_f1": 55.16},
}

PAPER_000_BALANCING = {
    # Shen et al. 2022, Table 6, ResNet50 + AFI on UAE
    "fixed": {"aesthetic_accuracy": 80.55, "aesthetic_f1": 78.61, "emotion_accuracy": 65.85, "emotion_f1": 54.90},
    "uncertainty": {"aesthetic_accuracy": 80.72, "aesthetic_f1": 78.78, "emotion_accuracy": 66.21,
                    "emotion_f1": 55.19},
    "dwa": {"aesthetic_accuracy": 80.62, "aesthetic_f1": 78.95, "emotion_accuracy": 65.64, "emotion_f1": 54.95},
    "gradnorm": {"aesthetic_accuracy": 80.75, "aesthetic_f1": 78.71, "emotion_accuracy": 65.90, "emotion_f1": 54.87},
    "recalibration": {"aesthetic_accuracy": 81.15, "aesthetic_f1": 79.09, "emotion_accuracy": 66.34,
                      "emotion_f1": 55.62},
}

PAPER_003_IAE = {
    # Yu et al. ICIP 2019, Table 1 on IAE: aesthetic acc, emotion acc ("single" = ResNet50, WRN = wide_resnet50_2)
    "single": {"aesthetic_accuracy": 74.85, "emotion_accuracy": 61.09},
    "single-wide_resnet50_2": {"aesthetic_accuracy": 75.16, "emotion_accuracy": 62.65},
    "share_split": {"aesthetic_accuracy": 77.79, "emotion_accuracy": 60.23},
    "cross_stitch": {"aesthetic_accuracy": 77.70, "emotion_accuracy": 63.17},
    "aenet_fl": {"aesthetic_accuracy": 76.68, "emotion_accuracy": 61.46},
    "aenet": {"aesthetic_accuracy": 81.05, "emotion_accuracy": 66.23},
}

PAPER_003_CROSS_SET = {
    # Yu et al. ICIP 2019, Table 2: trained on IAE only, tested on AVA (aesthetic accuracy) and ArtPhoto (emotion
    # accuracy); "single" = ResNet50, WRN = wide_resnet50_2, SSNet = share_split, CSNet = cross_stitch
    "single": {"ava_aesthetic_accuracy": 71.18, "artphoto_emotion_accuracy": 24.83},
    "single-wide_resnet50_2": {"ava_aesthetic_accuracy": 71.33, "artphoto_emotion_accuracy": 27.02},
    "share_split": {"ava_aesthetic_accuracy": 68.39, "artphoto_emotion_accuracy": 23.86},
    "cross_stitch": {"ava_aesthetic_accuracy": 70.48, "artphoto_emotion_accuracy": 27.30},
    "aenet_fl": {"ava_aesthetic_accuracy": 70.29, "artphoto_emotion_accuracy": 24.22},
    "aenet": {"ava_aesthetic_accuracy": 72.83, "artphoto_emotion_accuracy": 27.92},
}

PAPER_000_INITIALISATION = {
    # Shen et al. 2022, §4.2 table "network initialisation" (ResNet50 + AFI on UAE): aesthetic acc / F1, emotion
    # acc / F1 when the branches start from Xavier (random), ImageNet, or the single-task networks trained on UAE
    "random": {"aesthetic_accuracy": 67.25, "aesthetic_f1": 63.17, "emotion_accuracy": 45.19, "emotion_f1": 32.08},
    "imagenet": {"aesthetic_accuracy": 80.13, "aesthetic_f1": 77.26, "emotion_accuracy": 64.38, "emotion_f1": 54.22},
    "single_task": {"aesthetic_accuracy": 80.55, "aesthetic_f1": 78.61, "emotion_accuracy": 65.85,
                    "emotion_f1": 54.90},
}

PAPER_004_ABLATION = {
    # Sheng et al. 2020, Table 5: GoogLeNet on Twitter five-agree, 5-fold cross-validated accuracy (%) by the
    # set of Inception blocks that carry an auxiliary classifier
    (): 80.0,
    ("3a",): 81.7, ("3b",): 80.8, ("4c",): 79.8, ("4e",): 81.5,
    ("4a", "4b", "4d"): 88.1,
    ("4b", "4d"): 86.2, ("4a", "4d"): 86.6, ("4a", "4b"): 85.8,
    ("4d",): 84.9, ("4b",): 84.5, ("4a",): 85.1,
}
"""Keys: the blocks that keep a head (the paper's rows "delete 4a and 4b" = ``("4d",)``, "delete 4a and 4d" =
``("4b",)``, "delete 4b and 4d" = ``("4a",)``); its chosen set is ``("4a", "4b", "4d")``."""

PAPER_004_AGREEMENT = {
    # Sheng et al. 2020: precision / recall / F1 / accuracy (%) with the chosen auxiliary classifiers, 5-fold CV
    "five": {"precision": 90.0, "recall": 92.2, "f1": 91.1, "accuracy": 88.1},
    "four": {"precision": 86.0, "recall": 87.7, "f1": 86.8, "accuracy": 83.6},
    "three": {"precision": 83.6, "recall": 84.8, "f1": 84.2, "accuracy": 80.7},
}

PAPER_002_AVA_M = {
    # Miao & Liang 2025, Table 2 on AVA-m (AVA + comments): aesthetic accuracy (%, score > 5) and Spearman ρ
    # (None: not reported); keys "mcn_mtl" = MCN-MTL, "mcn" = MCN without the style task (MCN+FC)
    "murray": {"accuracy": 68.00, "srcc": None},
    "reg_rank_att_cont": {"accuracy": 77.33, "srcc": 0.5581},
    "mt_cnn": {"accuracy": 78.56, "srcc": None},
    "att_gan": {"accuracy": None, "srcc": 0.6313},
    "multimodal_dbm": {"accuracy": 78.88, "srcc": None},
    "multigap": {"accuracy": 82.27, "srcc": None},
    "nima": {"accuracy": 81.51, "srcc": 0.612},
    "mlsp": {"accuracy": 81.72, "srcc": 0.756},
    "a_lamp": {"accuracy": 82.0, "srcc": None},
    "mpa": {"accuracy": 83.03, "srcc": None},
    "rgnet": {"accuracy": 83.59, "srcc": None},
    "mcn": {"accuracy": 84.44, "srcc": 0.7753},
    "mcn_mtl": {"accuracy": 85.63, "srcc": 0.7835},
}


# ---- looking a number up ------------------------------------------------------------------------------------


def key_text(value: Any) -> str:
    """How a row key is matched: tuples / lists as ``a,b``, the empty one as ``none``, anything else as ``str``."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) if value else "none"
    return str(value)


def paper_tables() -> dict[str, Mapping[Any, Any]]:
    """Every table of this module by name (``PAPER_…``)."""
    return {name: value for name, value in globals().items() if name.startswith("PAPER_") and isinstance(value, dict)}


def paper_numbers(table: str | Mapping[Any, Any], key: Any) -> dict[str, float | None]:
    """What a paper reports in the row ``key`` of ``table`` (a ``PAPER_…`` name of this module, or the table
    itself), by column; a table of plain numbers gives ``{"value": number}``; ``{}`` when the paper has no such row.
    Keys match by :func:`key_text`: ``("4a", "4b")``, ``["4a", "4b"]`` and ``"4a,4b"`` name the same row."""
    if isinstance(table, str):
        tables = paper_tables()
        if table not in tables:
            raise UnknownNameError("paper table", table, list(tables))
        table = tables[table]
    wanted = key_text(key)
    entry = next((value for row, value in table.items() if key_text(row) == wanted), None)
    if entry is None:
        return {}
    return dict(entry) if isinstance(entry, Mapping) else {"value": entry}
