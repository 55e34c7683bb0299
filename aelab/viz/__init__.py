"""Visualisation: plots now; probes, rendering, atlases, spatial grids, neuron groups and Grad-CAM build on them."""
