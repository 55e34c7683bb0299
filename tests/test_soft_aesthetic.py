"""Aesthetic targets made from the mean score: the binary head trained on σ((mean score − 5) / T), or regressing
the score, while metrics count the 0/1 labels."""

import math

import pytest
import torch
import torch.nn.functional as F

from aelab.data import SynthAE, TaskDataset, eval_transform
from aelab.data.sample import Sample
from aelab.errors import ConfigError
from aelab.tasks import high_aesthetic, soft_aesthetic
from aelab.train.config import TrainConfig
from aelab.train.trainer import Trainer


def test_soft_target_is_one_half_at_the_threshold_and_sharpens_with_the_temperature():
    assert soft_aesthetic(5.0, 0.5) == 0.5
    assert soft_aesthetic(6.0, 0.5) == pytest.approx(1 / (1 + math.exp(-2)))
    assert soft_aesthetic(4.0, 0.5) == pytest.approx(1 - soft_aesthetic(6.0, 0.5))
    assert soft_aesthetic(5.1, 0.01) > 0.99 and soft_aesthetic(4.9, 0.01) < 0.01  # the 0/1 label in the limit
    assert soft_aesthetic(5.1, 2.0) < 0.52  # barely above the threshold: barely more likely high than low
    with pytest.raises(ValueError, match="temperature"):
        soft_aesthetic(6.0, 0.0)


def test_dataset_softens_only_the_aesthetic_target_and_keeps_the_labels():
    samples = SynthAE(16, size=16)
    soft = TaskDataset(samples, ["aesthetic", "emotion"], eval_transform(16), soft_aesthetic=0.5)
    plain = TaskDataset(samples, ["aesthetic", "emotion"], eval_transform(16))
    assert "loss_targets" not in plain[0]
    for index in range(len(samples)):
        item, score = soft[index], samples[index].labels["aesthetic_score"]
        assert item["targets"]["aesthetic"].item() == high_aesthetic(score)
        assert item["loss_targets"]["aesthetic"].item() == pytest.approx(soft_aesthetic(score, 0.5))
        assert 0.0 < item["loss_targets"]["aesthetic"].item() < 1.0
        assert torch.equal(item["loss_targets"]["emotion"], item["targets"]["emotion"])
    with pytest.raises(ValueError, match="soft_aesthetic"):
        TaskDataset(samples, ["aesthetic"], eval_transform(16), soft_aesthetic=-1.0)


@pytest.mark.parametrize("target", ["soft", "score"])
def test_trainer_computes_the_aesthetic_loss_on_the_targets_made_from_the_score(tmp_path, target):
    """soft: BCE against σ((s − 5) / 0.5); score: ½ (5 + 0.5·z − s)², the logit standing for the score."""
    config = TrainConfig(n_images=64, image_size=32, epochs=1, batch_size=16, progress=False, tensorboard=False,
                         grad_ratio_every=0, augment=False, soft_aesthetic=0.5, aesthetic_target=target,
                         output=str(tmp_path))
    trainer = Trainer(config)
    batch = next(iter(trainer.loader("train", shuffle=False)))
    with torch.no_grad():
        losses, logits = trainer._losses(batch, trainer.model)
    z = logits["aesthetic"].reshape(-1).float()
    made = batch["loss_targets"]["aesthetic"]
    assert (made.max().item() > 1.0) == (target == "score")  # the score itself, or a probability
    expected = {"soft": lambda: F.binary_cross_entropy_with_logits(z, made),
                "score": lambda: (0.5 * (5.0 + 0.5 * z - made) ** 2).mean()}[target]()
    hard = F.binary_cross_entropy_with_logits(z, batch["targets"]["aesthetic"].float())
    assert not torch.allclose(expected, hard)
    assert losses["aesthetic"].item() == pytest.approx(expected.item(), rel=1e-5)
    # validation and test keep the 0/1 labels (their losses and metrics are the task's own)
    assert "loss_targets" not in next(iter(trainer.loader("val", shuffle=False)))


def test_a_temperature_that_is_not_positive_is_refused_by_name():
    with pytest.raises(ConfigError, match="soft_aesthetic"):
        TrainConfig(soft_aesthetic=0)


def test_soft_targets_without_the_aesthetic_task_are_refused_by_name():
    with pytest.raises(ConfigError, match="soft_aesthetic.*do not include aesthetic"):
        TrainConfig(tasks=["emotion"], soft_aesthetic=0.5)


def test_data_without_mean_scores_is_refused_in_one_sentence():
    """A set with 0/1 aesthetic labels only (no raters' mean) cannot be softened: said, not silently ignored."""
    from PIL import Image

    samples = [Sample(f"s{i}", {"aesthetic": i % 2}, Image.new("RGB", (8, 8))) for i in range(4)]
    with pytest.raises(ConfigError, match="soft_aesthetic: got 0.5, expected null .*aesthetic_score"):
        TaskDataset(samples, ["aesthetic"], eval_transform(8), soft_aesthetic=0.5)
    assert len(TaskDataset(samples, ["aesthetic"], eval_transform(8))) == 4  # without soft targets they are fine
