"""Every cross-reference in the README, docs/, notebooks/, aelab/, tests/ and benchmarks/ resolves.

Checked: relative links of markdown (README, docs, notebook markdown cells) and the files they name;
``page.md#anchor`` against the page's headings (GitHub's slugs) and explicit ``<a id>`` anchors; every
"paper 00N" against the short names docs/science.md defines; "§N" against the sections of the page it names
(or of the page it stands on); and no mention of notes that live outside the repository — the science and the
design are documented in docs/. Each failure is reported as ``file:line: what is wrong``.
"""

from __future__ import annotations

import bisect
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCIENCE = "docs/science.md"
PAPERS = {f"{n:03d}" for n in range(5)}
OUTSIDE_NOTES = re.compile(r"\b" + "METH" + r"ODS\b(?:\.md)?|\b" + "DES" + r"IGN\.md\b")
"""Names of notes kept outside the repository (spelled in pieces so this file does not mention them)."""

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\]\n]|\][^(])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+|mailto:\S+", re.I)
PAGE_MENTION = re.compile(r"(?<![\w/.-])((?:\.\./)?docs/[\w./-]*\w\.md|[\w./-]*\w\.md(?=#))(#[\w-]+)?")
PAPER = re.compile(r"\b[Pp]apers?\s+(\d{3}(?:(?:,\s*|\s+and\s+|\s+or\s+|\s*[–-]\s*)\d{3})*)\b")
SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
SECTION_CONTEXT = re.compile(
    r"(?P<page>(?<![\w/.-])[\w./-]*\w\.(?:md|ipynb))\b"
    r"|(?P<paper>\b[Pp]apers?\s+\d{3}|\bet al\b|\b(?:19|20)\d\d\b|\bCN\d+A\b|\bpatent\b)"
    r"|(?P<outside>" + OUTSIDE_NOTES.pattern + ")")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
ANCHOR_TAG = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.I)
LOOKBACK = 160
"""How far back (within the paragraph; a heading ends one) the page or paper a "§N" belongs to may be named."""
PARAGRAPH = re.compile(r"\n[ \t]*\n|^ {0,3}#{1,6} .*$", re.M)


@dataclass(frozen=True)
class Chunk:
    """One piece of text to check: a whole file, or one notebook cell."""

    path: str          # relative to the repository root
    text: str
    markdown: bool
    cell: int | None = None

    def where(self, offset: int) -> str:
        line = self.text.count("\n", 0, offset) + 1
        return f"{self.path}:cell {self.cell}:line {line}" if self.cell is not None else f"{self.path}:{line}"


def chunks(root: Path) -> Iterator[Chunk]:
    """The README, docs/*.md, every notebook cell, and the Python files of aelab/, tests/ and benchmarks/."""
    me = Path(__file__).resolve()
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        if path.is_file():
            yield Chunk(path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"), True)
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells, start=1):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            yield Chunk(path.relative_to(root).as_posix(), source, cell["cell_type"] == "markdown", index)
    for folder in ("aelab", "tests", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.resolve() != me:
                yield Chunk(path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"), False)


def blank(text: str, pattern: re.Pattern) -> str:
    """``text`` with every match of ``pattern`` replaced by spaces (newlines kept, so offsets stay put)."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces → hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


class Page:
    """A markdown page's anchors and numbered sections."""

    def __init__(self, text: str):
        text = blank(text, FENCE)
        self.anchors: set[str] = set(ANCHOR_TAG.findall(text))
        self.sections: set[str] = set()
        seen: dict[str, int] = {}
        for match in HEADING.finditer(text):
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            self.anchors.add(base if count == 0 else f"{base}-{count}")
            number = re.match(r"§\s?(\d+(?:\.\d+)*)", match.group(2))
            if number:
                self.sections.add(number.group(1))


class Pages:
    """Markdown pages of the repository, read once each."""

    def __init__(self, root: Path):
        self.root = root
        self._pages: dict[Path, Page | None] = {}

    def find(self, name: str, near: str) -> Path | None:
        """The file ``name`` names, relative to the file ``near``, the repository root or docs/."""
        for base in (self.root / near).parent, self.root, self.root / "docs":
            candidate = (base / name).resolve()
            if candidate.exists():
                return candidate
        return None

    def page(self, path: Path) -> Page | None:
        if path not in self._pages:
            self._pages[path] = Page(path.read_text(encoding="utf-8")) if path.suffix == ".md" else None
        return self._pages[path]


def defined_papers(root: Path) -> set[str]:
    """The short names docs/science.md defines: its headings "paper 00N — …"."""
    path = root / SCIENCE
    if not path.is_file():
        return set()
    headings = HEADING.findall(blank(path.read_text(encoding="utf-8"), FENCE))
    return {n for _, text in headings for n in re.findall(r"\bpaper (\d{3})\b", text, re.I)}


def check_links(chunk: Chunk, pages: Pages) -> Iterator[str]:
    """Markdown links to files of the repository exist; their ``#anchor`` matches a heading of the page."""
    if not chunk.markdown:
        return
    text = blank(blank(chunk.text, FENCE), INLINE_CODE)
    for match in LINK.finditer(text):
        target = match.group(1)
        if URL.match(target):
            continue
        name, _, anchor = target.partition("#")
        yield from check_target(chunk, match.start(1), name, anchor, pages)


def check_page_mentions(chunk: Chunk, pages: Pages) -> Iterator[str]:
    """Plain-text mentions of a page under docs/ (or of any ``page.md#anchor``) resolve, anchor included."""
    text = blank(chunk.text, URL)
    if chunk.markdown:
        text = blank(text, LINK)
    for match in PAGE_MENTION.finditer(text):
        if OUTSIDE_NOTES.search(match.group(1)):
            continue
        yield from check_target(chunk, match.start(), match.group(1), (match.group(2) or "#")[1:], pages)


def check_target(chunk: Chunk, offset: int, name: str, anchor: str, pages: Pages) -> Iterator[str]:
    path = pages.find(name, chunk.path) if name else (pages.root / chunk.path).resolve()
    if path is None:
        yield f"{chunk.where(offset)}: {name!r} does not exist (relative to the file, the root or docs/)"
    elif anchor and path.suffix == ".md":
        page = pages.page(path)
        if anchor not in page.anchors:
            yield f"{chunk.where(offset)}: {name or chunk.path}#{anchor}: no heading or anchor {anchor!r} there"


def check_papers(chunk: Chunk, defined: set[str]) -> Iterator[str]:
    """Every "paper 00N" is one of paper 000 … paper 004 and docs/science.md defines it."""
    for match in PAPER.finditer(chunk.text):
        for number in re.findall(r"\d{3}", match.group(1)):
            if number not in PAPERS:
                yield f"{chunk.where(match.start())}: paper {number}: the source papers are paper 000 … paper 004"
            elif number not in defined:
                yield f"{chunk.where(match.start())}: paper {number} is not defined in {SCIENCE}"


def check_outside_notes(chunk: Chunk) -> Iterator[str]:
    """No mention of notes outside the repository: the reader cannot open them."""
    for match in OUTSIDE_NOTES.finditer(chunk.text):
        yield (f"{chunk.where(match.start())}: {match.group(0)!r} is not part of the repository; "
               f"point into docs/ ({SCIENCE} §N, docs/architecture.md) instead")


def check_sections(chunk: Chunk, pages: Pages) -> Iterator[str]:
    """Each "§N" belongs to the page named just before it (or a paper, whose sections are its own) and that
    page has a heading "§N"; with nothing named, the markdown page it stands on must have that section."""
    paragraphs = [0] + [m.end() for m in PARAGRAPH.finditer(chunk.text)]
    for match in SECTION.finditer(chunk.text):
        paragraph = paragraphs[bisect.bisect_right(paragraphs, match.start()) - 1]
        start = max(paragraph, match.start() - LOOKBACK)
        context = list(SECTION_CONTEXT.finditer(chunk.text, start, match.start()))
        last = context[-1] if context else None
        number, where = match.group(1), chunk.where(match.start())
        if last is not None and (last.group("paper") or last.group("outside")):
            continue
        if last is not None:
            path = pages.find(last.group("page"), chunk.path)
            if path is None:
                continue  # reported by the page checks
            page = pages.page(path)
            if page is None or number not in page.sections:
                yield f"{where}: §{number}: {last.group('page')} has no section §{number}"
        elif chunk.markdown and chunk.cell is None and number in pages.page(pages.root / chunk.path).sections:
            continue
        else:
            yield f"{where}: §{number} names no page (write e.g. '{SCIENCE} §{number}') and no paper"


def failures(root: Path, check: Callable[..., Iterator[str]]) -> list[str]:
    pages, defined = Pages(root), defined_papers(root)
    found = []
    for chunk in chunks(root):
        if check is check_papers:
            found += check(chunk, defined)
        elif check is check_outside_notes:
            found += check(chunk)
        else:
            found += check(chunk, pages)
    return found


CHECKS = {"links": check_links, "page mentions": check_page_mentions, "papers": check_papers,
          "outside notes": check_outside_notes, "sections": check_sections}


@pytest.mark.parametrize("name", list(CHECKS))
def test_repository_cross_references_resolve(name):
    found = failures(ROOT, CHECKS[name])
    assert not found, f"{len(found)} unresolved reference(s):\n" + "\n".join(found)


def test_science_page_defines_every_paper_and_numbered_section():
    page = Page((ROOT / SCIENCE).read_text(encoding="utf-8"))
    assert defined_papers(ROOT) == PAPERS
    assert {str(n) for n in range(1, 11)} | {"2.1"} <= page.sections
    assert {f"s{n}" for n in range(1, 11)} | {"s2-1", "papers"} <= page.anchors


def test_science_page_writes_out_every_cited_equation():
    text = (ROOT / SCIENCE).read_text(encoding="utf-8")
    cited = [f"paper 000 eq. {n}" for n in range(1, 9)] + [f"paper 004 eq. {n}" for n in range(1, 6)]
    assert [c for c in cited if f"| {c} |" not in text] == []


# ---- the checks themselves, on a small tree with one mistake of each kind ----------------------------------

@pytest.fixture
def broken_tree(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "aelab").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "docs" / "science.md").write_text(
        "# Science\n\n### paper 000 — one\n\n## §1 Tasks\n\n<a id=\"s3\"></a>\n## §3 Models\n\nSee §3 and §4.\n",
        encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "[ok](docs/science.md#1-tasks) [ok](docs/science.md#s3) [gone](docs/missing.md)\n"
        "[bad anchor](docs/science.md#2-data)\n`[not a link](nowhere.md)`\n", encoding="utf-8")
    (tmp_path / "aelab" / "mod.py").write_text(
        '"""paper 000 and docs/science.md §3; paper 001; papers 000 and 007.\n'
        "Shen et al. 2022, §3.3 is the paper's own section. " + "METH" + "ODS §2 and " + "DES" + "IGN.md.\n"
        'See docs/science.md §2 and docs/science.md#nowhere."""\n', encoding="utf-8")
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# t\n", "bare §1 here\n"]}]}
    (tmp_path / "notebooks" / "00_t.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return tmp_path


def test_checks_report_each_mistake_with_file_and_line(broken_tree):
    assert failures(broken_tree, check_links) == [
        "README.md:1: 'docs/missing.md' does not exist (relative to the file, the root or docs/)",
        "README.md:2: docs/science.md#2-data: no heading or anchor '2-data' there"]
    assert failures(broken_tree, check_page_mentions) == [
        "aelab/mod.py:3: docs/science.md#nowhere: no heading or anchor 'nowhere' there"]
    assert failures(broken_tree, check_papers) == [
        "aelab/mod.py:1: paper 001 is not defined in docs/science.md",
        "aelab/mod.py:1: paper 007: the source papers are paper 000 … paper 004"]
    notes = failures(broken_tree, check_outside_notes)
    assert [line.split(": ")[0] for line in notes] == ["aelab/mod.py:2", "aelab/mod.py:2"]
    assert failures(broken_tree, check_sections) == [
        "docs/science.md:10: §4 names no page (write e.g. 'docs/science.md §4') and no paper",
        "notebooks/00_t.ipynb:cell 1:line 2: §1 names no page (write e.g. 'docs/science.md §1') and no paper",
        "aelab/mod.py:3: §2: docs/science.md has no section §2"]


def test_slug_follows_github():
    assert slug("§2.1 Published file layouts") == "21-published-file-layouts"
    assert slug("The `aelab` command: [demo](x.md)!") == "the-aelab-command-demo"
    assert slug("paper 000 — the AFI paper") == "paper-000--the-afi-paper"
