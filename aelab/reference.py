"""Numbers the source papers report (METHODS §3–§5), to print next to what a run measures.

Values are percentages; keys are aelab's arch / balancer names.
"""

from __future__ import annotations

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
