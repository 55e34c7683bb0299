"""Viewer comments for SynthAE images: short remarks generated from the image's factors, some of them wrong.

They give the image–text model (paper 002, MCN-MTL) real signal to learn from: remarks on composition,
colour harmony, focus, grain, mood and style, and an overall verdict that follows the latent quality. A remark on
the main subject names its colour and shape ("The red triangle stands out."), so that the co-attention of those
words can be checked against the subject's known box.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aelab.tasks import EMOTIONS

WRONG_REMARK_PROBABILITY = 0.2

COMPOSITION_REMARKS = {
    "thirds": ("Nice placement on the thirds.", "Well balanced composition."),
    "centred": ("Subject dead centre, a bit static.", "Centred framing."),
    "cramped": ("Feels cramped, give it some room.", "Too tight in the corner."),
    "cut_off": ("The subject is cut off.", "Cropped too much at the edge."),
}
HARMONY_REMARKS = {
    True: ("Lovely harmonious colours.", "The palette works well."),
    False: ("The colours clash badly.", "Garish colour combination."),
}
FOCUS_REMARKS = {True: ("Tack sharp.", "Crisp detail."), False: ("Out of focus, sadly.", "Too blurry for me.")}
GRAIN_REMARKS = {True: ("Way too much noise.", "Grainy and noisy."), False: ("Clean image.", "No distracting noise.")}
MOOD_REMARKS = {
    "amusement": ("This makes me smile.", "So playful and fun."),
    "anger": ("Feels aggressive and harsh.", "Angry energy here."),
    "awe": ("Breathtaking view.", "Truly awe inspiring."),
    "contentment": ("So calm and peaceful.", "A quiet contented mood."),
    "disgust": ("Kind of gross to look at.", "Murky and repulsive."),
    "excitement": ("What an exciting burst!", "Full of energy and thrills."),
    "fear": ("Creepy and unsettling.", "This scares me a little."),
    "sadness": ("Such a melancholy mood.", "Gloomy and sad."),
}
STYLE_REMARKS = {
    "duotones": "Love the duotone treatment.",
    "hdr": "Heavy HDR processing.",
    "light_on_white": "Clean light on white look.",
    "long_exposure": "The long exposure trails work.",
    "macro": "Great macro detail.",
    "motion_blur": "Nice sense of motion blur.",
    "negative_image": "Interesting negative effect.",
    "shallow_dof": "Beautiful shallow depth of field.",
    "silhouettes": "Strong silhouette.",
    "soft_focus": "Dreamy soft focus.",
    "vanishing_point": "The lines lead to a vanishing point.",
}
SUBJECT_REMARKS = ("The {colour} {shape} stands out.", "I like the {colour} {shape}.",
                   "That {colour} {shape} draws the eye.")
SHAPE_WORDS = {"circle": "circle", "blob": "blob", "shard": "shard", "triangle": "triangle", "star": "star"}
HUE_WORDS = ((15, "red"), (45, "orange"), (70, "yellow"), (160, "green"), (195, "cyan"), (255, "blue"),
             (290, "purple"), (345, "pink"), (360, "red"))
"""Upper hue bound (degrees) of each colour word."""
GREY_SATURATION = 0.2  # below this saturation a colour is named by its lightness


def colour_word(hue: float, saturation: float, value: float) -> str:
    """An everyday name of an HSV colour (hue in degrees): black/white/grey when it has little colour."""
    if value < 0.15:
        return "black"
    if saturation < GREY_SATURATION:
        return "white" if value > 0.85 else "grey"
    return next(word for bound, word in HUE_WORDS if hue % 360 < bound)


def subject_colour_word(factors: dict[str, Any]) -> str:
    """The colour word of the main subject as the renderer paints it (a silhouette is black, light on white
    pale, otherwise the palette's subject hue at the image's saturation)."""
    if "silhouettes" in factors["effects"]:
        return "black"
    saturation = 0.3 if "light_on_white" in factors["effects"] else min(1.0, factors["saturation"] + 0.1)
    return colour_word(factors["palette_hues"][1], saturation, max(0.5, factors["brightness"]))


VERDICTS = {True: ("Great shot!", "Excellent work.", "Top marks from me."),
            False: ("Not for me.", "Weak entry.", "Needs more work.")}


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _remark(kind: str, factors: dict[str, Any], wrong: bool, rng: np.random.Generator) -> str:
    """One remark about one aspect; ``wrong`` makes it describe some other value of that aspect."""
    if kind == "composition":
        truth = factors["composition"]
        value = str(rng.choice([c for c in COMPOSITION_REMARKS if c != truth])) if wrong else truth
        return _pick(rng, COMPOSITION_REMARKS[value])
    if kind == "harmony":
        return _pick(rng, HARMONY_REMARKS[(factors["harmony"] != "clashing") != wrong])
    if kind == "focus":
        return _pick(rng, FOCUS_REMARKS[(factors["blur"] == 0) != wrong])
    if kind == "grain":
        return _pick(rng, GRAIN_REMARKS[(factors["noise"] > 0) != wrong])
    if kind == "mood":
        truth = EMOTIONS[factors["emotion"]]
        value = str(rng.choice([e for e in EMOTIONS if e != truth])) if wrong else truth
        return _pick(rng, MOOD_REMARKS[value])
    if kind == "subject":
        colour, shape = subject_colour_word(factors), SHAPE_WORDS[factors["shape"]]
        if wrong:  # another shape of the vocabulary
            shape = str(rng.choice([w for k, w in SHAPE_WORDS.items() if k != factors["shape"]]))
        return _pick(rng, SUBJECT_REMARKS).format(colour=colour, shape=shape)
    if kind == "style":
        used = [e for e in factors["effects"] if e in STYLE_REMARKS]
        pool = [e for e in STYLE_REMARKS if e not in used] if wrong or not used else used
        return STYLE_REMARKS[str(rng.choice(pool))]
    good = factors["quality"] > 5.0
    return _pick(rng, VERDICTS[good != wrong])


def make_comments(factors: dict[str, Any], rng: np.random.Generator) -> list[str]:
    """One to three comments of one or two remarks each, drawn from the factors with some wrong remarks."""
    aspects = ["subject", "composition", "harmony", "focus", "grain", "mood", "verdict"]
    if factors["effects"]:
        aspects.append("style")
    comments = []
    for _ in range(int(rng.integers(1, 4))):
        chosen = rng.choice(aspects, size=int(rng.integers(1, 3)), replace=False)
        remarks = [_remark(str(k), factors, bool(rng.random() < WRONG_REMARK_PROBABILITY), rng) for k in chosen]
        comments.append(" ".join(remarks))
    return comments
