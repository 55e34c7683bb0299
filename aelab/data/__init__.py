"""The data layer: samples, SynthAE, readers/writers of the published layouts, one Dataset, transforms, splits."""

from aelab.data.datasets import TaskDataset
from aelab.data.formats import READERS, WRITERS, read_dataset, write_dataset
from aelab.data.sample import Sample
from aelab.data.splits import kfold_indices, split_indices
from aelab.data.synthetic import SynthAE
from aelab.data.transforms import compute_mean_image, eval_transform, train_transform

__all__ = [
    "READERS", "WRITERS", "Sample", "SynthAE", "TaskDataset", "compute_mean_image", "eval_transform",
    "kfold_indices", "read_dataset", "split_indices", "train_transform", "write_dataset",
]
