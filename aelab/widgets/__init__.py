"""Thin ipywidgets front ends over aelab's functions, for JupyterLab."""
