"""The GPU training path on a CPU: bfloat16 autocast for every architecture and balancer, channels_last and
torch.compile against plain training, and the DataLoader settings chosen from the cores and the device."""

import shutil
import time
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from aelab.errors import ConfigError
from aelab.train import device_settings
from aelab.train.config import TrainConfig
from aelab.train.device_settings import auto_workers, autocast_dtype, loader_settings
from aelab.train.trainer import Trainer

TINY = dict(n_images=96, image_size=32, epochs=1, batch_size=16, max_batches=1, progress=False,
            grad_ratio_every=1, tensorboard=False)
ARCHITECTURES = {
    "single": {}, "share_split": {}, "cross_stitch": {}, "cross_branch": {}, "nddr": {}, "afi": {}, "aenet": {},
    "aenet_fl": {}, "aux": {"aux_layers": ["stage2", "stage3"]},
}
BALANCERS = {
    "uncertainty": {}, "dwa": {}, "gradnorm": {}, "recalibration": {},
    "recalibration-learned": {"learn_temperature": True},
}


def _trainer(tmp_path, **options) -> Trainer:
    return Trainer(TrainConfig(**{**TINY, **options, "output": str(tmp_path)}))


def _train_watching_convolutions(trainer: Trainer, hook: Callable[[nn.Conv2d], RemovableHandle]
                                 ) -> dict[str, float]:
    """Train the trainer's epoch 0 with ``hook(conv)`` registered on every convolution; its losses."""
    hooks = [hook(m) for m in trainer.model.modules() if isinstance(m, nn.Conv2d)]
    try:
        losses, _ = trainer.train_epoch(0)
    finally:
        for handle in hooks:
            handle.remove()
        trainer._release()
    return losses


def _one_batch(trainer: Trainer) -> tuple[dict[str, float], set[torch.dtype]]:
    """Train one batch; the dtypes the model's convolutions produced on the way."""
    dtypes: set[torch.dtype] = set()
    losses = _train_watching_convolutions(
        trainer, lambda conv: conv.register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype)))
    return losses, dtypes


def _check_finite_gradients(module: nn.Module) -> None:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert grads, "no gradient reached the parameters"
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_bfloat16_autocast_trains_every_architecture(tmp_path, one_thread, arch):
    trainer = _trainer(tmp_path, arch=arch, model_options=ARCHITECTURES[arch], amp_dtype="bfloat16")
    losses, dtypes = _one_batch(trainer)
    assert dtypes == {torch.bfloat16}  # the convolutions ran in bfloat16
    assert all(torch.isfinite(torch.tensor(value)) for value in losses.values()), losses
    _check_finite_gradients(trainer.model)


@pytest.mark.parametrize("balancer", list(BALANCERS))
def test_bfloat16_autocast_trains_every_balancer(tmp_path, one_thread, balancer):
    name = balancer.partition("-")[0]
    trainer = _trainer(tmp_path, arch="afi", balancing=name, balancing_options=BALANCERS[balancer],
                       amp_dtype="bfloat16")
    losses, dtypes = _one_batch(trainer)
    assert dtypes == {torch.bfloat16}
    assert all(torch.isfinite(torch.tensor(value)) for value in losses.values()), losses
    _check_finite_gradients(trainer.model)
    if name in ("uncertainty", "gradnorm"):  # learnable task weights got their (second-order for GradNorm) gradient
        _check_finite_gradients(trainer.balancer)
    if name == "gradnorm":
        assert torch.isfinite(trainer.balancer.last_grad_norms).all()
        assert sum(trainer.balancer.weights().values()) == pytest.approx(2.0)


def test_amp_dtype_choices_on_a_cpu(tmp_path):
    cpu = torch.device("cpu")
    assert autocast_dtype(True, "auto", cpu) is None  # as before: mixed precision on CUDA only by default
    assert autocast_dtype(True, "bfloat16", cpu) == torch.bfloat16
    assert autocast_dtype(False, "bfloat16", cpu) is None
    with pytest.raises(ConfigError, match="amp_dtype.*'float16'.*CUDA"):
        autocast_dtype(True, "float16", cpu)
    with pytest.raises(ConfigError, match="amp_dtype: got 'bf16'.*did you mean 'bfloat16'"):
        TrainConfig(amp_dtype="bf16")
    _, dtypes = _one_batch(_trainer(tmp_path, arch="single"))
    assert dtypes == {torch.float32}


def _conv_inputs_channels_last(trainer: Trainer) -> tuple[dict[str, float], set[bool]]:
    """Train; whether each convolution's input was in channels-last order (inputs whose order is ambiguous,
    one channel or one pixel, are left out)."""
    seen: set[bool] = set()

    def record(module, inputs):
        x = inputs[0]
        if x.shape[1] > 1 and x.shape[2] * x.shape[3] > 1:
            seen.add(x.is_contiguous(memory_format=torch.channels_last))

    return _train_watching_convolutions(trainer, lambda conv: conv.register_forward_pre_hook(record)), seen


def test_channels_last_gives_the_same_losses(tmp_path, one_thread):
    options = dict(arch="afi", max_batches=3, grad_ratio_every=0)
    plain, plain_layout = _conv_inputs_channels_last(_trainer(tmp_path / "a", **options))
    nhwc, nhwc_layout = _conv_inputs_channels_last(_trainer(tmp_path / "b", channels_last=True, **options))
    assert plain_layout == {False} and nhwc_layout == {True}
    assert nhwc == pytest.approx(plain, rel=5e-3)  # measured: 6e-4 after three SGD steps


def test_compiled_training_gives_the_same_losses(tmp_path, one_thread, monkeypatch):
    """Dynamo's graph capture and AOTAutograd (what can change training's semantics), without inductor's C++
    code generation; GradNorm's gradient norms go through the compiled graph's backward as well."""
    monkeypatch.setitem(device_settings.COMPILE_OPTIONS, "backend", "aot_eager")
    options = dict(arch="share_split", balancing="gradnorm", max_batches=2, grad_ratio_every=0)
    torch._dynamo.reset()
    plain = _trainer(tmp_path / "a", **options)
    first, _ = plain.train_epoch(0)  # each trainer right after its own seeding: the same random crops
    plain._release()
    compiled = _trainer(tmp_path / "b", compile=True, **options)
    assert compiled.train_model is not compiled.model
    assert compiled.train_model._orig_mod is compiled.model
    second, _ = compiled.train_epoch(0)
    compiled._release()
    assert second == pytest.approx(first, rel=1e-4)
    assert compiled.balancer.weights() == pytest.approx(plain.balancer.weights(), rel=1e-4)


INDUCTOR_MINUTES_ON_2_CORES = 6.5
"""Measured: inductor compiled the tiny AFI model's training step in 386 s on 2 CPU cores."""


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="torch.compile's inductor backend needs a C compiler on a CPU")
@pytest.mark.skipif(device_settings.available_cores() < 8,
                    reason=f"inductor compiles the tiny model for about {INDUCTOR_MINUTES_ON_2_CORES} min on 2 "
                           "cores; run on a machine with 8 or more")
def test_inductor_compiled_training_gives_the_same_losses(tmp_path):
    options = dict(arch="share_split", max_batches=2, grad_ratio_every=0)
    torch._dynamo.reset()
    plain, _ = _one_batch(_trainer(tmp_path / "a", **options))
    started = time.perf_counter()
    compiled, _ = _one_batch(_trainer(tmp_path / "b", compile=True, **options))
    print(f"inductor compile and two steps: {time.perf_counter() - started:.0f} s")
    assert compiled == pytest.approx(plain, rel=1e-3)


# ---- DataLoader settings ---------------------------------------------------------------------------------------

CUDA, CPU = torch.device("cuda", 0), torch.device("cpu")


def test_auto_workers_follow_the_cores_and_the_device():
    assert [auto_workers("cuda", n) for n in (1, 2, 4, 16, 64)] == [0, 1, 3, 8, 8]
    assert [auto_workers("cpu", n) for n in (1, 2, 3, 8, 16, 64)] == [0, 0, 0, 2, 4, 4]


def test_loader_settings_auto_and_explicit():
    gpu = loader_settings("auto", "auto", "auto", "auto", CUDA, cores=16)
    assert gpu.as_kwargs() == {"num_workers": 8, "pin_memory": True, "persistent_workers": False,
                               "prefetch_factor": 4}
    small_cpu = loader_settings("auto", "auto", True, 3, CPU, cores=2)  # worker-only settings dropped
    assert small_cpu.as_kwargs() == {"num_workers": 0, "pin_memory": False, "persistent_workers": False,
                                     "prefetch_factor": None}
    explicit = loader_settings(2, False, True, 3, CUDA, cores=16)
    assert explicit.as_kwargs() == {"num_workers": 2, "pin_memory": False, "persistent_workers": True,
                                    "prefetch_factor": 3}
    with pytest.raises(ConfigError, match="persistent_workers: got True.*num_workers is 0"):
        loader_settings(0, "auto", True, "auto", CUDA, cores=16)


def test_loader_fields_take_auto_numbers_and_command_line_strings():
    config = TrainConfig(num_workers="2", pin_memory="false", persistent_workers=True, prefetch_factor="4")
    assert (config.num_workers, config.pin_memory, config.persistent_workers, config.prefetch_factor) == \
        (2, False, True, 4)
    assert TrainConfig().num_workers == "auto"
    with pytest.raises(ConfigError, match=r"num_workers: got -1, expected 'auto' or an integer >= 0"):
        TrainConfig(num_workers=-1)
    with pytest.raises(ConfigError, match=r"pin_memory: got 'sometimes', expected 'auto' or true or false"):
        TrainConfig(pin_memory="sometimes")


def test_persistent_workers_keep_one_loader_per_split(tmp_path, one_thread):
    trainer = _trainer(tmp_path, arch="single", num_workers=1, persistent_workers=True, max_batches=2,
                       grad_ratio_every=0)
    try:
        first = trainer.loader("train", shuffle=True, epoch=0)
        order = list(first.batch_sampler)
        again = trainer.loader("train", shuffle=True, epoch=1)
        assert again is first and list(again.batch_sampler) != order  # same workers, the new epoch's batches
        trainer.train_epoch(0)
        trainer.train_epoch(1)
    finally:
        trainer._release()
    assert trainer._loaders == {}
