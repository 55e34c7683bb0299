"""Run one notebook headless with papermill and record how it went in ``status.json`` (ok, or the failing cell
and error), next to the executed copy and the notebook's own ``results.json``."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aelab.notebook import write_json_atomic

STATUS = "status.json"
RESULTS = "results.json"
EXECUTED = "executed.ipynb"


@dataclass
class CellError:
    """Where a notebook failed: the cell (its index in the notebook as run, papermill's injected-parameters cell
    included, and its ``In [n]`` execution count), its source and the exception's name and message."""

    cell: int | None
    execution_count: int | None
    source: str
    ename: str
    evalue: str

    def describe(self) -> str:
        """One line: ``cell 5 (In [3]): ValueError: bad value`` plus the cell's first source line."""
        where = "outside any cell" if self.cell is None else f"cell {self.cell} (In [{self.execution_count}])"
        first = self.source.strip().splitlines()[0] if self.source.strip() else ""
        return f"{where}: {self.ename}: {self.evalue}" + (f"  [{first}]" if first else "")


@dataclass
class Status:
    """Outcome of one notebook execution, as written to ``status.json``."""

    status: str  # "ok", "failed", "running" or "interrupted" (its sweep was stopped)
    notebook: str
    seconds: float = 0.0
    error: CellError | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Status":
        error = values.get("error")
        return cls(values["status"], values.get("notebook", ""), values.get("seconds", 0.0),
                   CellError(**error) if error else None, values.get("parameters", {}))


def read_status(folder: str | Path) -> Status | None:
    """The ``status.json`` of a run folder, or None when it has none (never run) or it cannot be read."""
    path = Path(folder) / STATUS
    try:
        return Status.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cell_error(error: BaseException) -> CellError:
    """A :class:`CellError` from papermill's execution error, or from any other exception (kernel death …)."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        return CellError(error.cell_index, error.exec_count, error.source, error.ename, str(error.evalue))
    detail = "".join(traceback.format_exception_only(type(error), error)).strip()
    return CellError(None, None, "", type(error).__name__, detail)


def execute_notebook(notebook: str | Path, folder: str | Path, parameters: dict[str, Any],
                     executed_name: str = EXECUTED, kernel_name: str = "python3") -> Status:
    """Execute ``notebook`` with ``parameters`` (plus ``output_dir`` = ``folder``) into ``folder``, working directory
    ``folder``; write and return its :class:`Status`. A failing notebook is not raised: its status says why."""
    import papermill

    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    parameters = {**parameters, "output_dir": str(folder)}
    status = Status("running", str(notebook), parameters=parameters)
    write_json_atomic(status.to_dict(), folder / STATUS)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(notebook), str(folder / executed_name), parameters=parameters,
                                   cwd=str(folder), progress_bar=False, kernel_name=kernel_name,
                                   store_widget_state=True)  # widgets' last state -> metadata.widgets
        status.status = "ok"
    except Exception as error:  # every failure is recorded, none is lost
        status.status, status.error = "failed", _cell_error(error)
    status.seconds = round(time.perf_counter() - start, 2)
    write_json_atomic(status.to_dict(), folder / STATUS)
    return status
