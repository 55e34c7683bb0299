"""Visualisation: plots now; probes, rendering, atlases, spatial grids, neuron groups and Grad-CAM build on them."""

# ---- spatial grids, neuron groups, separability, Grad-CAM and their figures (paper 004 eqs. 3–5) ----
from aelab.viz.cam import box_area, cam_mass_in_box, grad_cam, half_box, spliced_image  # noqa: E402
from aelab.viz.groups import NeuronGroups, factorize, group_images, neuron_groups, render_groups  # noqa: E402
from aelab.viz.overlays import (cam_figure, denormalize, groups_figure, separability_chart,  # noqa: E402
                                spatial_grid_figure, spliced_check_figure)
from aelab.viz.separability import LayerSeparability, separability, separability_from_activations  # noqa: E402
from aelab.viz.spatial import SpatialGrid, activation_grid, spatial_grid  # noqa: E402

# ---- probes, objectives, rendering and layer atlases (paper 004 channel and neuron visualisation; Lucid) ----
from aelab.viz.atlas import atlas_sheet, layer_atlas, run_atlas  # noqa: E402
from aelab.viz.objectives import Objective, channel, direction, neuron  # noqa: E402
from aelab.viz.parameterization import FourierImage, PixelImage  # noqa: E402
from aelab.viz.probe import LayerProbe, input_normalization, layer_activations, truncated  # noqa: E402
from aelab.viz.render import RenderSettings, lucid_defaults, paper_defaults, render_channels  # noqa: E402
# (the function render stays in aelab.viz.render: exporting it here would hide that module behind the function)
