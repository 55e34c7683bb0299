"""Visualisation: plots now; probes, rendering, atlases, spatial grids, neuron groups and Grad-CAM build on them."""

# ---- spatial grids, neuron groups, separability, Grad-CAM and their figures (paper 004 eqs. 3–5) ----
from aelab.viz.cam import box_area, cam_mass_in_box, grad_cam, half_box, spliced_image  # noqa: E402
from aelab.viz.groups import NeuronGroups, factorize, group_images, neuron_groups, render_groups  # noqa: E402
from aelab.viz.overlays import (cam_figure, denormalize, groups_figure, separability_chart,  # noqa: E402
                                spatial_grid_figure, spliced_check_figure)
from aelab.viz.separability import LayerSeparability, separability, separability_from_activations  # noqa: E402
from aelab.viz.spatial import SpatialGrid, activation_grid, spatial_grid  # noqa: E402
