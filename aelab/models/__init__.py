"""Models: backbones cut into stages, connectors, and the multi-task architectures built on them (docs/science.md §3).

``build_model(arch, backbone, tasks, weights, **options)`` builds any registered architecture (``MODELS``).
"""

from aelab.models.afi import AFI, afi_parameter_count
from aelab.models.aenet import AENet
from aelab.models.backbones import BACKBONES, Backbone, build_backbone
from aelab.models.connectors import NDDR, CrossBranch, CrossStitch, ScalarFusion
from aelab.models.heads import Head
from aelab.models.multitask import MultiTaskModel, ShareSplit, SingleTaskModels
from aelab.models.registry import MODELS, build_model
from aelab.models.twobranch import AFIModel, TwoBranchModel

__all__ = [
    "AENet", "AFI", "AFIModel", "BACKBONES", "Backbone", "CrossBranch", "CrossStitch", "Head", "MODELS",
    "MultiTaskModel", "NDDR", "ScalarFusion", "ShareSplit", "SingleTaskModels", "TwoBranchModel",
    "afi_parameter_count", "build_backbone", "build_model",
]
