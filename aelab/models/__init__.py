"""Models: backbones cut into stages (multi-task architectures build on them)."""

from aelab.models.backbones import BACKBONES, Backbone, build_backbone

__all__ = ["BACKBONES", "Backbone", "build_backbone"]
