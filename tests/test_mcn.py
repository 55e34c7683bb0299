"""MCN-MTL (paper 002): shapes, padding masks, co-attention mixing, variants, empty comments, training
integration (vocabulary saved with the run, reload and prediction with comments)."""

import pytest
import torch

from aelab.models import build_model
from aelab.models.inputs import call_model, fit_model_options
from aelab.prediction import load_run_model, predict
from aelab.tasks import STYLES
from aelab.text import Vocabulary

WORDS = ["great", "shot", "weak", "blurry", "lovely", "colours", "sharp"]
SMALL = {"width": 32, "layers": 2, "heads": 4, "vocabulary": WORDS,
         "backbone_options": {"widths": (8, 8, 16, 16), "convs": (1, 1, 1, 1)}}


def model(arch="mcn", tasks=("aesthetic_score", "style"), **options):
    torch.manual_seed(0)
    return build_model(arch, "tiny", list(tasks), **{**SMALL, **options}).eval()


@pytest.fixture(scope="module")
def images(one_thread):
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_outputs_and_encoding_shapes(images):
    net = model()
    outputs = net(images, ["great shot", "", "weak | blurry colours"])
    assert outputs["aesthetic_score"].shape == (3,) and outputs["style"].shape == (3, len(STYLES))
    encoding = net.encode(images, *net.tokens(["great shot", "", "weak | blurry colours"], 3, images.device),
                          need_weights=True)
    assert encoding.grid == (2, 2) and encoding.image.shape == (3, 4, 32)
    assert encoding.text.shape == (3, 4, 32) and encoding.pooled.shape == (3, 64)
    assert len(encoding.attention) == 2 and encoding.attention[0].shape == (3, 4, 4)
    assert torch.allclose(encoding.attention[-1].sum(-1), torch.ones(3, 4), atol=1e-5)  # over image regions
    assert len(model(layers=3).layers) == 3 and model(layers=0)(images)["style"].shape == (3, 14)
    assert net.probe_layers()[0] == "image.stage1" and net.forward_until(images, "image.stage2").shape[1] == 8


def test_padding_never_changes_outputs(images):
    net = model()
    alone = net(images[:1], ["great shot"])
    padded = net(images, ["great shot", "lovely sharp colours great great shot weak", ""])
    for task in alone:
        assert torch.allclose(alone[task][0], padded[task][0], atol=1e-5)
    tokens, padding = net.tokens(["great shot"], 1, images.device)
    longer = torch.cat([tokens, torch.zeros(1, 9, dtype=torch.long)], dim=1)
    base, extra = net.encode(images[:1], tokens, padding), net.encode(images[:1], longer, longer == 0)
    assert torch.allclose(base.pooled, extra.pooled, atol=1e-5)
    assert torch.allclose(base.image, extra.image, atol=1e-5)


def test_co_attention_mixes_modalities_and_the_ablation_does_not(images):
    comments = (["great shot"] * 3, ["weak blurry"] * 3)
    net = model()
    a, b = (net.encode(images, *net.tokens(c, 3, images.device)) for c in comments)
    assert (a.image - b.image).abs().max() > 1e-3  # the image side read the words
    assert not torch.allclose(net(images, comments[0])["aesthetic_score"], net(images, comments[1])["aesthetic_score"])
    ablation = model("mcn_no_ctrm")
    assert ablation.arch == "mcn_no_ctrm" and not hasattr(ablation.layers[0], "image_from_text")
    a, b = (ablation.encode(images, *ablation.tokens(c, 3, images.device)) for c in comments)
    assert torch.equal(a.image, b.image) and not torch.allclose(a.text, b.text)
    assert ablation.encode(images, need_weights=True).attention == []


def test_image_only_baseline_and_empty_comments(images):
    baseline = model("mcn_image")
    assert baseline.batch_inputs == () and not hasattr(baseline, "embedding")
    assert baseline(images)["aesthetic_score"].shape == (3,)
    net = model()
    none, empty = net(images), net(images, ["", "", ""])
    for task in none:
        assert torch.isfinite(none[task]).all() and torch.equal(none[task], empty[task])
    assert net.tokens(None, 2, images.device)[0].tolist() == [[2], [2]]  # the <empty> token


def test_single_task_variant_and_option_errors(images):
    single = model(tasks=("aesthetic_score",))
    assert list(single(images, ["great"] * 3)) == ["aesthetic_score"]
    with pytest.raises(ValueError, match="width must be divisible"):
        model(width=30)
    with pytest.raises(ValueError, match="3 strings"):
        model()(images, ["only one"])


def test_word_vectors_initialise_the_embeddings(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("great 1 2 3 4\nshot -1 0 0 1\n")
    net = model(word_vectors=str(path))
    index = Vocabulary(WORDS).index
    assert net.embedding.embedding_dim == 4
    assert net.embedding.weight[index["great"]].tolist() == [1, 2, 3, 4]


def test_call_model_reads_the_declared_batch_keys(images):
    net = model()
    batch = {"image": images, "comments": ["great", "", "weak"]}
    assert torch.equal(call_model(net, batch, "cpu")["style"], net(images, batch["comments"])["style"])
    with pytest.raises(KeyError, match="comments"):
        call_model(net, {"image": images}, "cpu")
    assert "vocabulary" not in fit_model_options("share_split", [], {})


def test_training_saves_the_vocabulary_and_reloads_for_prediction(tmp_path, one_thread):
    from aelab.data import SynthAE
    from aelab.train import TrainConfig, fit

    options = {k: v for k, v in SMALL.items() if k != "vocabulary"}
    run = fit(TrainConfig(arch="mcn", tasks=["aesthetic_score", "style"], balancing="dwa", n_images=80,
                          image_size=32, epochs=1, batch_size=16, optimizer="adam", lr=1e-3, progress=False,
                          grad_ratio_every=0, model_options=options, output=str(tmp_path)))
    assert run.results["test"]["metrics"]["style"]["map"] >= 0
    reloaded, config = load_run_model(run.folder)
    words = config["model_options"]["vocabulary"]
    assert "sharp" in words or "blurry" in words  # learned from SynthAE's training comments
    assert reloaded.vocabulary.words == words
    data = SynthAE(2, size=32)
    paths = []
    for i in range(2):
        data.render(i).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    comments = {"0.png": ["Tack sharp. Great shot!"]}
    with_text = predict(run.folder, paths, comments=comments, progress=False, device="cpu")
    without = predict(run.folder, paths, progress=False, device="cpu")
    assert with_text.rows[0]["aesthetic_score_score"] != without.rows[0]["aesthetic_score_score"]
    assert with_text.rows[1]["aesthetic_score_score"] == pytest.approx(without.rows[1]["aesthetic_score_score"])
