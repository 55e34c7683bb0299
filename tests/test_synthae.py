"""SynthAE: determinism, label statistics, consistency of labels with the planted factors, learnability."""

import numpy as np
import pytest

from aelab.data.synthetic import SynthAE
from aelab.data.synthetic.stats import label_summary, linear_probe
from aelab.tasks import EMOTIONS, STYLES, is_positive


@pytest.fixture(scope="module")
def stats_set():
    return SynthAE(3000, size=32, seed=0)


def test_same_seed_same_images_labels_and_comments():
    a, b = SynthAE(20, size=48, seed=7), SynthAE(20, size=48, seed=7)
    for i in (0, 5, 19):
        assert np.array_equal(np.asarray(a[i].load_image()), np.asarray(b[i].load_image()))
        assert a[i].labels == b[i].labels
        assert a[i].factors == b[i].factors


def test_item_does_not_depend_on_set_size_but_on_seed():
    small, large, other = SynthAE(5, 32, seed=1), SynthAE(500, 32, seed=1), SynthAE(5, 32, seed=2)
    assert np.array_equal(np.asarray(small[3].load_image()), np.asarray(large[3].load_image()))
    assert small[3].labels == large[3].labels
    assert [other[i].labels["emotion"] for i in range(5)] != [small[i].labels["emotion"] for i in range(5)] or \
        not np.array_equal(np.asarray(other[0].load_image()), np.asarray(small[0].load_image()))


def test_image_has_requested_size_and_rgb():
    image = SynthAE(3, size=40, seed=0)[0].load_image()
    assert image.size == (40, 40) and image.mode == "RGB"
    assert np.asarray(image).std() > 5  # not a blank canvas


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n >= 1"):
        SynthAE(0)
    with pytest.raises(ValueError, match="size >= 16"):
        SynthAE(10, size=4)
    with pytest.raises(IndexError, match="out of range"):
        SynthAE(3)[3]


def test_label_statistics_match_the_description(stats_set):
    emotion = stats_set.label_array("emotion")
    aesthetic = stats_set.label_array("aesthetic")
    score = stats_set.label_array("aesthetic_score")
    counts = np.bincount(emotion, minlength=8)
    assert (counts > 0.08 * len(emotion)).all(), counts  # all 8 classes present, roughly balanced
    assert 0.45 < aesthetic.mean() < 0.7  # UAE: 57 % high
    positive = np.array([is_positive(e) for e in emotion])
    assert aesthetic[positive].mean() > aesthetic[~positive].mean() + 0.15
    assert score.min() >= 1 and score.max() <= 10
    assert np.array_equal(aesthetic, (score > 5).astype(int))
    sentiment = stats_set.label_array("sentiment")
    assert np.array_equal(sentiment, positive.astype(int))


def test_ratings_follow_the_uae_protocol(stats_set):
    for i in range(50):
        sample = stats_set[i]
        ratings = sample.meta["ratings"]
        assert len(ratings) == 10 and set(ratings) <= {1, 4, 7, 10}
        assert sample.labels["aesthetic_score"] == pytest.approx(np.mean(ratings))


def test_style_tags_are_consistent_with_the_effects_used(stats_set):
    seen = np.zeros(len(STYLES))
    for i in range(600):
        f = stats_set.factors(i)
        tags = {STYLES[k] for k, v in enumerate(f["style"]) if v == 1.0}
        expected = set(f["effects"])
        expected |= {"rule_of_thirds"} if f["composition"] == "thirds" else set()
        expected |= {"complementary_colors"} if f["harmony"] == "complementary" else set()
        expected |= {"image_grain"} if f["noise"] > 0 else set()
        assert tags == expected
        seen += f["style"]
    assert (seen > 0).all(), "every one of the 14 style tags occurs"


def test_effects_change_pixels_as_tagged():
    ds = SynthAE(400, size=48, seed=3)
    negatives = [i for i in range(400) if "negative_image" in ds.factors(i)["effects"]]
    assert negatives, "some images use the negative effect"
    i = negatives[0]
    from aelab.data.synthetic import render as render_module
    from aelab.data.synthetic.factors import factor_rng

    factors = ds.factors(i)
    inverted = np.asarray(ds.render(i), dtype=float)
    factors["effects"] = [e for e in factors["effects"] if e != "negative_image"]
    plain = np.asarray(render_module.render(factors, 48, factor_rng(3, i, 1)), dtype=float)
    assert np.abs(inverted + plain - 255).max() <= 1


def test_subject_box_marks_where_the_subject_is():
    """The recorded subject box differs from its surroundings: the factor is usable as ground truth."""
    ds = SynthAE(60, size=64, seed=0)
    contrasts = []
    for i in range(60):
        f = ds.factors(i)
        if f["composition"] != "thirds" or f["effects"] or f["blur"] > 0:
            continue
        image = np.asarray(ds.render(i), dtype=float)
        x0, y0, x1, y1 = (np.array(f["subject_box"]) * 64).astype(int)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        centre = image[cy - 2:cy + 2, cx - 2:cx + 2].reshape(-1, 3).mean(0)
        corner_x = 2 if cx > 32 else 61
        corner_y = 2 if cy > 32 else 61
        corner = image[corner_y - 2:corner_y + 2, corner_x - 2:corner_x + 2].reshape(-1, 3).mean(0)
        contrasts.append(np.abs(centre - corner).sum())
    assert len(contrasts) >= 5 and np.median(contrasts) > 40


def test_comments_describe_the_factors_with_some_noise(stats_set):
    agree = total = 0
    for i in range(400):
        sample = stats_set[i]
        comments = sample.labels["comments"]
        assert 1 <= len(comments) <= 3 and all(isinstance(c, str) and c for c in comments)
        text = " ".join(comments)
        blurred = stats_set.factors(i)["blur"] > 0
        if "Tack sharp." in text or "Crisp detail." in text:
            agree += not blurred
            total += 1
        if "Out of focus, sadly." in text or "Too blurry for me." in text:
            agree += blurred
            total += 1
    assert total > 20
    assert 0.65 < agree / total < 0.97  # mostly right, some remarks wrong


def test_subject_remarks_name_the_subjects_colour_and_shape(stats_set):
    from aelab.data.synthetic.comments import SHAPE_WORDS, colour_word, subject_colour_word

    assert [colour_word(h, 0.8, 0.8) for h in (5, 30, 60, 120, 180, 220, 270, 320, 350)] == [
        "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "red"]
    assert (colour_word(200, 0.05, 0.95), colour_word(200, 0.05, 0.5), colour_word(10, 0.9, 0.1)) == (
        "white", "grey", "black")
    named = right = 0
    for i in range(400):
        factors, text = stats_set.factors(i), " ".join(stats_set[i].labels["comments"]).lower()
        colour = subject_colour_word(factors)
        for shape in SHAPE_WORDS.values():
            if f"{colour} {shape}" in text:
                named += 1
                right += shape == factors["shape"]
    assert named > 100  # about half the images have a remark on their subject
    assert 0.7 < right / named < 0.97  # it names the true shape, apart from the deliberately wrong remarks
    silhouette = next(stats_set.factors(i) for i in range(2000) if "silhouettes" in stats_set.factors(i)["effects"])
    assert subject_colour_word(silhouette) == "black"


def test_a_linear_model_learns_both_tasks_but_not_perfectly():
    results = linear_probe(SynthAE(2400, size=32, seed=11), train_fraction=0.75)
    emotion, aesthetic = results["emotion"], results["aesthetic"]
    assert emotion["accuracy"] > max(0.4, emotion["majority"] + 0.25), results  # 8-way chance is 12.5 %
    assert aesthetic["accuracy"] > aesthetic["majority"] + 0.05, results
    assert emotion["accuracy"] < 0.95 and aesthetic["accuracy"] < 0.95, results


def test_summary_counts_what_the_labels_say():
    data = SynthAE(300, size=32, seed=2)
    summary = label_summary(data)
    emotion = data.label_array("emotion")
    assert sum(summary["emotion_counts"].values()) == 300
    assert summary["emotion_counts"]["fear"] == int((emotion == EMOTIONS.index("fear")).sum())
    assert summary["high_rate"] == pytest.approx(data.label_array("aesthetic").mean())


def test_cache_returns_the_same_pixels_without_rendering_again(monkeypatch):
    cached = SynthAE(4, size=32, seed=5, cache=True)
    first = np.asarray(cached.render(2))
    assert np.array_equal(first, np.asarray(SynthAE(4, size=32, seed=5).render(2)))
    import aelab.data.synthetic.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "render", lambda *a, **k: pytest.fail("rendered twice"))
    assert np.array_equal(np.asarray(cached[2].load_image()), first)


def test_prerender_in_processes_gives_the_pixels_rendering_on_demand_gives(monkeypatch):
    import aelab.data.synthetic.dataset as dataset_module

    dataset_module._RENDERED.pop((9173, 24), None)  # a (seed, size) no other test renders: its own memo
    data = SynthAE(12, size=24, seed=9173, cache=True)
    assert data.prerender(indices=[1, 3, 5, 7, 9, 11], workers=2) == 6
    assert data.prerender(indices=[1, 3, 5], workers=2) == 0  # already in the memo
    fresh = SynthAE(12, size=24, seed=9173)
    expected = {i: np.asarray(fresh.render(i)) for i in (1, 3, 5, 7, 9, 11)}
    monkeypatch.setattr(dataset_module, "render", lambda *a, **k: pytest.fail("rendered again"))
    for index, pixels in expected.items():
        assert np.array_equal(np.asarray(data.render(index)), pixels)
    with pytest.raises(ValueError, match="cache=True"):
        SynthAE(4, size=24, seed=9173).prerender()
    with pytest.raises(ValueError, match="workers: got 0, expected an integer >= 1"):
        data.prerender(workers=0)


def test_prerender_that_cannot_use_processes_leaves_the_images_to_be_rendered_on_demand(monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    import aelab.data.synthetic.dataset as dataset_module

    class BrokenPool:
        def __init__(self, **options):
            pass

        def map(self, *args):
            raise BrokenProcessPool("a child process terminated abruptly")

        def shutdown(self, **options):
            pass

    dataset_module._RENDERED.pop((9174, 24), None)
    data = SynthAE(8, size=24, seed=9174, cache=True)
    monkeypatch.setattr(dataset_module, "ProcessPoolExecutor", BrokenPool)
    with pytest.warns(UserWarning, match="stopped .*terminated abruptly.*the other 8 images are rendered when first"):
        assert data.prerender(workers=2) == 0
    assert dataset_module._RENDERED[(9174, 24)] == {}
    monkeypatch.setattr(dataset_module, "fork_context", lambda: None)  # no fork here (macOS, a pool's worker)
    assert data.prerender(workers=2) == 0 and dataset_module._RENDERED[(9174, 24)] == {}
    assert np.asarray(data[3].load_image()).shape == (24, 24, 3)  # rendered when used, as before


# ---- the ceiling: majority baseline and the Bayes-optimal oracle -------------------------------------------


def _rated_high_rate(quality: float, taste_sd: float, n: int = 200_000) -> float:
    """Monte-Carlo P(high): taste and ten raters drawn as the generator draws them."""
    from aelab.data.synthetic import recipes as R

    rng = np.random.default_rng(0)
    latent = quality + R.QUALITY_SCALE * rng.normal(0, taste_sd, (n, 1)) + rng.normal(0, R.RATER_SD, (n, R.N_RATERS))
    ratings = np.asarray(R.RATING_LEVELS)[np.searchsorted(R.RATING_CUTS, latent)]
    return float((ratings.mean(axis=1) > 5).mean())


@pytest.mark.parametrize("quality", [4.6, 5.0, 5.4, 6.2])
def test_high_probability_matches_simulated_raters(quality):
    from aelab.data.synthetic.ceiling import high_probability

    assert high_probability(quality)[0] == pytest.approx(_rated_high_rate(quality, 0.35), abs=0.004)


def test_oracle_threshold_is_where_high_becomes_more_likely():
    from aelab.data.synthetic.ceiling import aesthetic_threshold, high_probability

    threshold = aesthetic_threshold()
    assert 4.9 < threshold < 5.2
    assert high_probability(threshold - 0.02)[0] < 0.5 < high_probability(threshold + 0.02)[0]


def test_constructed_case_without_noise_is_decided_by_the_observable_quality():
    """With no hidden taste the oracle's answer is P(high) > 1/2 on the exact rating distribution."""
    from aelab.data.synthetic.ceiling import aesthetic_threshold, high_probability

    threshold = aesthetic_threshold(taste_sd=0.0)
    assert high_probability(threshold + 0.01, taste_sd=0.0)[0] > 0.5 > high_probability(threshold - 0.01, 0.0)[0]
    assert aesthetic_threshold(taste_sd=0.0) != pytest.approx(aesthetic_threshold(), abs=1e-6)


def test_observable_quality_leaves_out_only_the_taste():
    from aelab.data.synthetic import recipes as R
    from aelab.data.synthetic.ceiling import observable_quality

    factors = SynthAE(5, seed=3).factors(2)
    taste = factors["quality_terms"]["taste"]
    assert observable_quality(factors) == pytest.approx(factors["quality"] - R.QUALITY_SCALE * taste)


def _constructed_factors(emotion: str, **changes):
    """Factors drawn from the middle of ``emotion``'s recipe, with no borrowing."""
    from aelab.data.synthetic import recipes as R

    recipe = R.RECIPES[emotion]
    factors = {"hue": recipe.hue, "saturation": float(np.mean(recipe.saturation)),
               "brightness": float(np.mean(recipe.brightness)), "shape": recipe.shapes[0],
               "companions": recipe.companions[0], "granularity": float(np.mean(recipe.granularity)),
               "clutter": recipe.clutter[0], "harmony": "analogous", "composition": "centred", "noise": 0.0,
               "effects": []}
    factors.update(changes)
    return factors


def test_emotion_oracle_on_a_constructed_case():
    from aelab.data.synthetic.ceiling import emotion_posterior

    awe = EMOTIONS.index("awe")
    assert emotion_posterior(_constructed_factors("awe")).argmax() == awe
    # one attribute (the hue) borrowed from anger: the other three still decide
    borrowed = _constructed_factors("awe", hue=4.0)
    assert emotion_posterior(borrowed)[awe] > 0.99
    # anger's hue with fear's tone, shapes and texture that both share: either one attribute was borrowed
    anger, fear = EMOTIONS.index("anger"), EMOTIONS.index("fear")
    mixed = _constructed_factors("fear", hue=4.0, shape="shard", companions=0, granularity=0.12, clutter=8)
    posterior = emotion_posterior(mixed)
    assert posterior[anger] > 0.3 and posterior[fear] > 0.3 and posterior[anger] + posterior[fear] > 0.999


def test_ceiling_reports_majority_and_oracle_per_task(stats_set):
    from aelab.data.synthetic.ceiling import ceiling, gap_share

    result = ceiling(stats_set, ("aesthetic", "emotion", "style"))
    aesthetic, emotion = result["aesthetic"], result["emotion"]
    assert aesthetic["majority"] == pytest.approx(max(stats_set.label_array("aesthetic").mean(),
                                                      1 - stats_set.label_array("aesthetic").mean()))
    assert 0.84 < aesthetic["oracle"] < 0.92  # taste and raters' noise keep it from 100 %
    assert emotion["majority"] < 0.2 and emotion["oracle"] > 0.95  # borrowing one attribute of four rarely hides it
    assert set(result["style"]["oracle"]) == set(STYLES) and min(result["style"]["oracle"].values()) == 1.0
    assert gap_share(0.7, 0.5, 0.9) == pytest.approx(0.5)


def test_oracle_rejects_an_unknown_task():
    from aelab.data.synthetic.ceiling import oracle_predictions

    with pytest.raises(ValueError, match="task must be one of aesthetic, emotion, style, got 'beauty'"):
        oracle_predictions(SynthAE(3), "beauty")



def test_partial_oracle_spans_majority_to_oracle_and_ranks_what_each_term_is_worth():
    from aelab.data.synthetic.ceiling import OBSERVABLE_TERMS, ceiling, partial_oracle_accuracy

    fit, test = SynthAE(1500, seed=11), SynthAE(1500, seed=12)
    bounds = ceiling(test, ("aesthetic",))["aesthetic"]
    subsets = [(), OBSERVABLE_TERMS, ("valence",), ("valence", "composition"), ("valence", "effects")]
    nothing, everything, valence, with_composition, with_effects = partial_oracle_accuracy(fit, test, subsets).values()
    assert nothing == pytest.approx(bounds["majority"], abs=0.03)
    assert everything == pytest.approx(bounds["oracle"], abs=0.02)
    # composition is worth several points over valence alone; the rare effects barely one
    assert with_composition - valence > 0.04
    assert abs(with_effects - valence) < 0.02
    with pytest.raises(ValueError, match="taste"):
        partial_oracle_accuracy(fit, test, [("taste",)])
