"""The runs of notebook 01's architecture table: every row trained at one budget, the main run reused only when it
had that budget."""

import dataclasses

from aelab.train import TrainConfig
from aelab.train.compare import train_architectures


@dataclasses.dataclass(frozen=True)
class RealData:
    """The fields the comparison reads of a config on a real data set (its root need not exist here)."""

    data: str = "ava"
    arch: str = "afi"
    n_images: int = 2000  # ignored by real-data readers
    epochs: int = 6
    fractions: tuple = (0.7, 0.1, 0.2)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def recording_fit(trained):
    def fit(config):
        trained.append(config)
        return f"run of {config.arch} × {config.n_images} × {config.epochs}"
    return fit


def test_the_main_run_is_reused_at_its_own_budget():
    config, trained = TrainConfig(arch="afi", n_images=500, epochs=3), []
    runs = train_architectures("main run", config, ["single", "afi", "nddr"], fit=recording_fit(trained))
    assert runs == ["main run", "run of single × 500 × 3", "run of nddr × 500 × 3"]
    assert [c.arch for c in trained] == ["single", "nddr"]


def test_a_smaller_budget_retrains_every_architecture_at_it():
    config, trained = TrainConfig(arch="afi", n_images=20000, epochs=6, lr=0.003), []
    runs = train_architectures("main run", config, ["single"], n_images=3000, epochs=4, fit=recording_fit(trained))
    assert runs == ["run of afi × 3000 × 4", "run of single × 3000 × 4"]
    assert all(c.lr == 0.003 and c.replace(arch="afi") == config.replace(n_images=3000, epochs=4) for c in trained)


def test_the_budget_never_exceeds_the_main_runs_and_real_data_keeps_its_images():
    trained = []
    runs = train_architectures("main run", TrainConfig(n_images=500, epochs=3), ["single"], n_images=2000, epochs=5,
                               fit=recording_fit(trained))
    assert runs == ["main run", "run of single × 500 × 3"]
    real = RealData()
    runs = train_architectures("main run", real, ["single"], n_images=300, epochs=2, fit=recording_fit(trained))
    assert runs == ["run of afi × 2000 × 2", "run of single × 2000 × 2"]


def test_the_comparison_can_split_its_images_otherwise_than_the_main_run():
    config, trained = TrainConfig(arch="afi", n_images=2000, epochs=3, fractions=(0.8, 0.05, 0.15)), []
    runs = train_architectures("main run", config, ["single"], fractions=[0.7, 0.1, 0.2], fit=recording_fit(trained))
    assert runs == ["run of afi × 2000 × 3", "run of single × 2000 × 3"]  # the main run's split differs: retrained
    assert [c.fractions for c in trained] == [(0.7, 0.1, 0.2)] * 2
    trained.clear()
    same = train_architectures("main run", config, ["single"], fractions=(0.8, 0.05, 0.15), fit=recording_fit(trained))
    assert same[0] == "main run" and [c.fractions for c in trained] == [(0.8, 0.05, 0.15)]


def test_nothing_to_compare_trains_nothing():
    trained = []
    assert train_architectures("main run", TrainConfig(), [], n_images=10, fit=recording_fit(trained)) == ["main run"]
    assert train_architectures("main run", TrainConfig(arch="afi"), ["afi"], fit=recording_fit(trained)) == ["main run"]
    assert trained == []
