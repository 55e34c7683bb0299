"""An executed notebook as one HTML page that works offline: no script is fetched from a CDN.

nbconvert's ``lab`` template loads require.js, MathJax, mermaid and the Jupyter widget manager from CDNs, and draws
each widget from the saved widget state with that manager. None of these ships with the installed packages, so
the page leaves those scripts out and replaces every widget view by a static drawing of its saved state: pictures
(``Image`` widgets, images in ``Output`` widgets) as embedded PNGs, HTML as HTML, and each control as
"description: value". The saved state stays in the page as data (a ``<script>`` of JSON type, never run).
"""

from __future__ import annotations

import copy
import html
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STATIC_CLASS = "aelab-widget-static"

OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
"""nbconvert's lab page without the scripts it would fetch from CDNs."""

STYLE = (f".{STATIC_CLASS} {{ border: 1px dashed #bbb; padding: 6px; }} "
         f".{STATIC_CLASS} .note {{ color: #666; font-size: 0.85em; }} "
         f".{STATIC_CLASS} .row {{ display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }} "
         f".{STATIC_CLASS} .control {{ background: #f3f3f3; border-radius: 3px; padding: 1px 6px; }} "
         f".{STATIC_CLASS} img {{ max-width: 100%; }}")

Models = Mapping[str, Mapping[str, Any]]
Drawer = Callable[[Mapping[str, Any], Models], str]


def _model_id(reference: Any) -> str:
    return reference[len("IPY_MODEL_"):] if isinstance(reference, str) and reference.startswith("IPY_MODEL_") \
        else str(reference)


def _buffers(model: Mapping[str, Any]) -> dict[str, str]:
    """A model's binary values (base64 text) by the name of the state entry they fill."""
    return {".".join(map(str, b.get("path", []))): b.get("data", "") for b in model.get("buffers", [])
            if b.get("encoding", "base64") == "base64"}


def draw(model_id: str, models: Models) -> str:
    """Static HTML of the widget ``model_id`` and its children, from the saved widget state ``models``."""
    model = models.get(_model_id(model_id))
    if model is None:
        return '<span class="note">(a widget whose state was not saved)</span>'
    name = model.get("model_name") or model.get("state", {}).get("_model_name", "")
    return DRAWERS.get(name, _control)(model, models)


def _children(model: Mapping[str, Any], models: Models, row: bool) -> str:
    state = model.get("state", {})
    titles = list(state.get("titles") or [])
    parts = []
    for number, child in enumerate(state.get("children", [])):
        title = titles[number] if number < len(titles) and titles[number] else ""
        heading = f"<b>{html.escape(str(title))}</b><br>" if title else ""
        parts.append(f"<div>{heading}{draw(child, models)}</div>")
    return f'<div class="{"row" if row else "column"}">' + "".join(parts) + "</div>"


def _image(model: Mapping[str, Any], models: Models) -> str:
    state = model.get("state", {})
    data = _buffers(model).get("value") or (state.get("value") if isinstance(state.get("value"), str) else "")
    if not data:
        return '<span class="note">(an empty picture)</span>'
    kind = "svg+xml" if state.get("format") == "svg" else state.get("format") or "png"
    return f'<img src="data:image/{html.escape(kind)};base64,{data}" alt="{html.escape(state.get("description", ""))}">'


def output_html(output: Mapping[str, Any]) -> str:
    """One saved notebook output (display data, a stream or an error) as static HTML."""
    data = output.get("data", {})
    for kind in ("image/png", "image/jpeg"):
        if kind in data:
            text = "".join(data[kind]) if isinstance(data[kind], list) else data[kind]
            return f'<img src="data:{kind};base64,{text.strip()}" alt="">'
    for kind in ("image/svg+xml", "text/html"):
        if kind in data:
            return "".join(data[kind]) if isinstance(data[kind], list) else str(data[kind])
    if WIDGET_VIEW in data:
        return ""  # a widget inside an output widget is drawn by its parent's children
    text = data.get("text/plain") or output.get("text") or "\n".join(output.get("traceback", []))
    text = "".join(text) if isinstance(text, list) else str(text)
    return f"<pre>{html.escape(text)}</pre>" if text else ""


def _output(model: Mapping[str, Any], models: Models) -> str:
    return "".join(output_html(output) for output in model.get("state", {}).get("outputs", []))


def _html(model: Mapping[str, Any], models: Models) -> str:
    state = model.get("state", {})
    label = f'<span class="control">{html.escape(state["description"])}</span> ' if state.get("description") else ""
    return label + str(state.get("value", ""))


def _control(model: Mapping[str, Any], models: Models) -> str:
    """Any other widget: its description and value (a choice shown by its label), or its description alone."""
    state = model.get("state", {})
    labels, index = state.get("_options_labels"), state.get("index")
    if labels is not None and index is not None:
        chosen = [labels[i] for i in (index if isinstance(index, (list, tuple)) else [index])
                  if isinstance(i, int) and 0 <= i < len(labels)]
        value: Any = ", ".join(map(str, chosen)) or "–"
    elif "value" in state and not isinstance(state["value"], (dict, list)):
        value = state["value"]
    else:
        value = None
    description = str(state.get("description") or state.get("_model_name", "").removesuffix("Model"))
    if value is None:
        return f'<span class="control">{html.escape(description)}</span>' if description else ""
    return f'<span class="control">{html.escape(description)}: {html.escape(str(value))}</span>'


DRAWERS: dict[str, Drawer] = {
    **{name: (lambda m, ms: _children(m, ms, row=False)) for name in
       ("VBoxModel", "BoxModel", "GridBoxModel", "TabModel", "AccordionModel", "StackModel")},
    "HBoxModel": lambda m, ms: _children(m, ms, row=True),
    "ImageModel": _image,
    "OutputModel": _output,
    "HTMLModel": _html,
    "HTMLMathModel": _html,
}
"""How each kind of widget model is drawn statically (others: :func:`_control`)."""


def static_view(view: Mapping[str, Any], models: Models) -> str:
    """The static stand-in for one widget view output."""
    return (f'<div class="{STATIC_CLASS}"><div class="note">The saved last state of an interactive widget (run the '
            f"notebook in JupyterLab to use it).</div>{draw(view.get('model_id', ''), models)}</div>")


def without_live_widgets(notebook: Any) -> Any:
    """A copy of ``notebook`` whose widget view outputs are static HTML drawn from its saved widget state."""
    notebook = copy.deepcopy(notebook)
    models = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                output["data"] = {"text/html": static_view(data[WIDGET_VIEW], models)}
    return notebook


def notebook_to_html(executed: Path) -> Path:
    """Convert an executed notebook to a standalone HTML file beside it (figures and widget pictures embedded,
    no script from a CDN) and return its path."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_loaders=[DictLoader({"aelab_offline.html.j2": OFFLINE_TEMPLATE})],
                            template_file="aelab_offline.html.j2")
    body, _ = exporter.from_notebook_node(without_live_widgets(nbformat.read(executed, as_version=4)))
    body = body.replace("</head>", f"<style>{STYLE}</style></head>", 1)
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target

