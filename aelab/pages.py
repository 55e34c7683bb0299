"""The frame of aelab's standalone HTML pages: one style sheet and one document shell, shared by the demo's
front page (:mod:`aelab.report.page`) and a sweep's ``table.html`` (:mod:`aelab.sweep.report`).

It sits below both so that neither imports the other; the tables inside the pages come from
:func:`aelab.notebook.html_table`.
"""

from __future__ import annotations

import html

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #666; }
section { border-top: 1px solid #ddd; padding-top: 0.5em; margin-top: 1.5em; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; } .figures img { max-width: 520px; max-height: 360px; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f3f3f3; }
.failed { color: #a00; } pre { background: #f8f8f8; padding: 0.5em; overflow-x: auto; }
"""


def html_document(title: str, body: str) -> str:
    """A whole page: ``title`` (escaped here) as its title and first heading, then ``body`` (HTML, as given)."""
    title = html.escape(title)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style>"
            f"</head><body><h1>{title}</h1>{body}</body></html>")
