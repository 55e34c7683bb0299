"""The aesthetic head trained on the raters' mean score: as a soft target (BCE) or as a regression of the score."""

import pytest
import torch
import torch.nn.functional as F

from aelab.aesthetic_targets import AESTHETIC_TARGETS, ScoreRegression, aesthetic_loss_kinds, get_aesthetic_target
from aelab.data import SynthAE, TaskDataset, eval_transform
from aelab.errors import ConfigError, UnknownNameError
from aelab.tasks import high_aesthetic
from aelab.train.config import TrainConfig
from aelab.train.losses import task_loss


def test_score_regression_is_half_the_squared_error_of_the_score_the_logit_stands_for():
    kind = ScoreRegression(0.5)
    logits = torch.tensor([0.0, 2.0, -4.0, 6.0])
    scores = torch.tensor([5.0, 6.0, 3.0, 5.0])  # z = 0, 2, -4 stand for 5, 6, 3: exact; z = 6 stands for 8
    assert torch.allclose(kind.value_loss(logits, scores), torch.tensor([0.0, 0.0, 0.0, 4.5]))
    z = torch.tensor([1.0], requires_grad=True)
    kind.value_loss(z, torch.tensor([7.0])).sum().backward()  # 5 + 0.5·1 = 5.5 against 7: d/dz = 0.5·(5.5 − 7)
    assert z.grad.item() == pytest.approx(-0.75)
    with pytest.raises(ValueError, match="temperature"):
        ScoreRegression(0.0)


def test_far_from_the_threshold_the_regression_keeps_a_gradient_where_the_soft_target_has_none():
    """Rated 6.5 or 9.5, the soft target is ~1 either way; the regression still tells the two apart."""
    z = torch.tensor([6.0, 6.0], requires_grad=True)  # both read as "surely high" (σ(6) = 0.998)
    scores = torch.tensor([6.5, 9.5])
    soft = get_aesthetic_target("soft").loss_target
    soft_targets = torch.tensor([soft(float(s), 0.5) for s in scores])
    soft_grad, = torch.autograd.grad(F.binary_cross_entropy_with_logits(z, soft_targets, reduction="sum"), z)
    regression_grad, = torch.autograd.grad(ScoreRegression(0.5).value_loss(z, scores).sum(), z)
    assert soft_grad.abs().max() < 0.05
    assert regression_grad[0] > 0.5 and regression_grad[1] < -0.5  # 6.5 pulls the logit down, 9.5 up


def test_task_loss_uses_the_given_kind_and_keeps_the_mask():
    logits, scores = torch.tensor([2.0, 0.0, 9.0]), torch.tensor([6.0, 7.0, -1.0])
    mask = torch.tensor([True, True, False])  # the third has no score (placeholder −1): it must not count
    loss = task_loss("aesthetic", logits, scores, mask, ScoreRegression(0.5))
    assert loss.item() == pytest.approx((0.0 + 0.5 * 2.0 ** 2) / 2)
    assert task_loss("aesthetic", logits, torch.tensor([1.0, 0.0, 0.0]), mask).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits[:2], torch.tensor([1.0, 0.0])).item())


def test_the_registry_names_its_targets_and_loss_kinds():
    assert set(AESTHETIC_TARGETS) == {"soft", "score"}
    assert aesthetic_loss_kinds("soft", 0.5) == {}
    assert aesthetic_loss_kinds("score", None) == {}
    made = aesthetic_loss_kinds("score", 0.25)["aesthetic"]
    assert isinstance(made, ScoreRegression) and made.temperature == 0.25
    with pytest.raises(UnknownNameError, match="aesthetic target 'scores'"):
        get_aesthetic_target("scores")


def test_dataset_hands_the_loss_the_score_itself_and_keeps_the_labels():
    samples = SynthAE(12, size=16)
    data = TaskDataset(samples, ["aesthetic", "emotion"], eval_transform(16), soft_aesthetic=0.5,
                       aesthetic_target="score")
    for index in range(len(samples)):
        item, score = data[index], samples[index].labels["aesthetic_score"]
        assert item["loss_targets"]["aesthetic"].item() == pytest.approx(score)
        assert item["targets"]["aesthetic"].item() == high_aesthetic(score)
        assert torch.equal(item["loss_targets"]["emotion"], item["targets"]["emotion"])


def test_regression_without_a_temperature_or_by_an_unknown_name_is_refused_by_name():
    with pytest.raises(ConfigError, match="soft_aesthetic: got None, expected a temperature .*'score'"):
        TrainConfig(aesthetic_target="score")
    with pytest.raises(ConfigError, match="aesthetic_target: got 'scor', .*did you mean 'score'"):
        TrainConfig(aesthetic_target="scor", soft_aesthetic=0.5)
