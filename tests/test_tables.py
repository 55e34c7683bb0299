"""The two table writers the notebooks, reports and panels share: html_table escapes what it is given, and
markdown_table keeps one cell per column whatever a value holds."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from aelab.notebook import html_table, markdown_table

HOSTILE = "<script>alert(\"x\")</script> & 'quoted' <b>bold</b>"


class Cells(HTMLParser):
    """The start tags of a page and the text of every table cell (entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.cells: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self._open = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs
        if tag in ("td", "th"):
            self._open = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._open = False

    def handle_data(self, data):
        if self._open:
            self.cells[-1] += data


def parsed(page: str) -> Cells:
    parser = Cells()
    parser.feed(page)
    parser.close()
    return parser


def test_html_table_shows_markup_in_values_as_text():
    page = html_table([{"name": HOSTILE, "score": 0.5}, {"name": "plain", "score": 2.25}])
    cells = parsed(page)
    assert set(cells.tags) == {"table", "tr", "th", "td"}  # no script, no bold: the markup stayed text
    assert cells.cells == ["name", "score", HOSTILE, "0.5", "plain", "2.25"]
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp;" in page


def test_html_table_escapes_column_names_and_the_class_attribute():
    page = html_table([{HOSTILE: 1}], css_class="x' onmouseover='alert(1)")
    cells = parsed(page)
    assert cells.tags == ["table", "tr", "th", "tr", "td"]
    assert cells.cells == [HOSTILE, "1"]
    assert cells.attributes == [("class", "x' onmouseover='alert(1)")]  # one attribute: the quote did not end it


def test_html_table_marks_missing_and_non_finite_values():
    cells = parsed(html_table([{"a": None, "b": float("nan"), "c": float("inf")}, {"a": 3}], ["a", "b", "c"]))
    assert cells.cells == ["a", "b", "c", "–", "–", "–", "3", "–", "–"]


def markdown_cells(line: str) -> list[str]:
    """The cells of one Markdown table line, split at the pipes that are not escaped."""
    inner = line.strip()
    assert inner.startswith("|") and inner.endswith("|") and not inner.endswith("\\|"), line
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner[1:-1])]


def test_markdown_table_keeps_pipes_inside_their_cell():
    rows = [{"setting": "stage1 | stage3", "accuracy": 0.8125}, {"setting": "a|b|c", "accuracy": None}]
    lines = markdown_table(rows, ["setting", "accuracy | std"]).splitlines()
    assert len(lines) == 4
    assert markdown_cells(lines[0]) == ["setting", "accuracy | std"]
    assert markdown_cells(lines[2]) == ["stage1 | stage3", "–"]
    assert markdown_cells(lines[3]) == ["a|b|c", "–"]


def test_markdown_table_keeps_a_value_with_a_line_break_on_its_row():
    lines = markdown_table([{"comment": "sharp\nwell lit", "n": 2}]).splitlines()
    assert len(lines) == 3 and markdown_cells(lines[2]) == ["sharp well lit", "2"]


def test_markdown_table_rounds_numbers_and_marks_missing_values():
    lines = markdown_table([{"a": 1 / 3, "b": float("nan")}, {"b": 2}], digits=2).splitlines()
    assert lines[1] == "|---|---|"
    assert markdown_cells(lines[2]) == ["0.33", "–"] and markdown_cells(lines[3]) == ["–", "2"]
