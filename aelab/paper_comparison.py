"""Tables that put a run's numbers beside the numbers a paper reports (:mod:`aelab.reference`), labelled so that
nobody reads them as one comparison: the run's columns say "SynthAE (this run)", the paper's say "paper, real data
(<data set>)", and a SynthAE table carries the sentence :data:`NOT_COMPARABLE`.

:class:`PaperComparison` is a list of row dicts (saved in results.json as plain rows, as before) that also knows
those labels; :func:`aelab.notebook.markdown_table` and :func:`aelab.notebook.html_table` print them (they read
its ``headers`` and ``note``), and so do the demo report and a sweep's tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aelab.reference import paper_tables

NOT_COMPARABLE = ("The papers' numbers are on real photographs with ImageNet-pretrained backbones at 224 px, these "
                  "are on synthetic 64 px images with a tiny network trained from scratch, so they are not "
                  "comparable; only the ordering of methods is worth comparing.")
"""The sentence every table of SynthAE numbers beside the papers' carries."""

SYNTHAE_RUN = "SynthAE (this run)"

PAPER_DATA_SETS = {
    "PAPER_000_ARCHITECTURES_RESNET50": "UAE",
    "PAPER_000_ARCHITECTURES_VGG16": "UAE",
    "PAPER_000_BALANCING": "UAE",
    "PAPER_000_INITIALISATION": "UAE",
    "PAPER_003_IAE": "IAE",
    "PAPER_003_CROSS_SET": "AVA and ArtPhoto, trained on IAE",
    "PAPER_004_ABLATION": "Twitter five-agree",
    "PAPER_004_AGREEMENT": "Twitter",
    "PAPER_002_AVA_M": "AVA-m",
}
"""The data set behind each table of :mod:`aelab.reference` (the papers' real photographs)."""


def data_set_of(table: str | Mapping[Any, Any] | None) -> str:
    """The data set of a paper table, given by its ``PAPER_…`` name or the table itself."""
    if table is not None and not isinstance(table, str):
        table = next((name for name, value in paper_tables().items() if value is table), None)
    return PAPER_DATA_SETS.get(table or "", "the paper's data set")


def paper_label(data_set: str) -> str:
    """``paper, real data (UAE)``."""
    return f"paper, real data ({data_set})"


def run_label(data: str | None = None) -> str:
    """``SynthAE (this run)`` for a run on SynthAE (``data`` None or ``"synthae"``), else ``<data> (this run)``."""
    return SYNTHAE_RUN if data in (None, "", "synthae") else f"{data} (this run)"


def _paper_metric(column: str) -> str:
    """``paper aesthetic accuracy`` → ``aesthetic accuracy``; ``paper_accuracy`` → ``accuracy``."""
    rest = column[len("paper"):].lstrip(" _") if column.lower().startswith("paper") else column
    return rest or "value"


class PaperComparison(list):
    """Rows (dicts) with a run's numbers beside a paper's, and how to label them.

    ``paper_columns``: the columns holding the paper's numbers (default: those named ``paper…``);
    ``key_columns``: the columns naming a row (default: those holding no number), left unlabelled; every other
    column is the run's. ``data``: the run's data set (SynthAE unless named); the :data:`NOT_COMPARABLE` note is
    carried when it is SynthAE.
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]] = (), data_set: str = "the paper's data set",
                 paper_columns: Sequence[str] | None = None, key_columns: Sequence[str] | None = None,
                 data: str | None = None):
        super().__init__(dict(row) for row in rows)
        self.data_set, self.data = data_set, data
        self.paper_columns, self.key_columns = paper_columns, key_columns

    def _like(self, rows: Iterable[Mapping[str, Any]]) -> PaperComparison:
        return PaperComparison(rows, self.data_set, self.paper_columns, self.key_columns, self.data)

    def __add__(self, other: Iterable[Mapping[str, Any]]) -> PaperComparison:
        return self._like([*self, *other])

    def __radd__(self, other: Iterable[Mapping[str, Any]]) -> PaperComparison:
        return self._like([*other, *self])

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(key for row in self for key in row))

    def is_paper(self, column: str) -> bool:
        return column in self.paper_columns if self.paper_columns is not None else \
            column.lower().startswith("paper")

    def is_key(self, column: str) -> bool:
        if self.key_columns is not None:
            return column in self.key_columns
        return not any(isinstance(row.get(column), (int, float)) and not isinstance(row.get(column), bool)
                       for row in self)

    @property
    def headers(self) -> dict[str, str]:
        """Each column's printed name: ``SynthAE (this run): <column>``, ``paper, real data (<set>): <metric>``,
        or a row-naming column as it is."""
        ours, theirs = run_label(self.data), paper_label(self.data_set)
        return {column: (f"{theirs}: {_paper_metric(column)}" if self.is_paper(column)
                         else column if self.is_key(column) else f"{ours}: {column}") for column in self.columns}

    @property
    def note(self) -> str:
        """The sentence printed with the table (SynthAE runs only)."""
        return NOT_COMPARABLE if run_label(self.data) == SYNTHAE_RUN else ""

