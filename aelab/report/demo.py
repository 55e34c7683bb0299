"""``aelab demo``: the demo notebooks run one after another on SynthAE, each fed by the ones before it, then one
HTML report. The plan is :data:`aelab.report.plan.DEMO_STEPS`; everything is checked before anything runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aelab.errors import AelabError
from aelab.report.plan import DEMO_STEPS, DemoStep
from aelab.sweep.execute import RESULTS, Status, execute_notebook
from aelab.sweep.parameters import ParameterError, check_parameters, check_value, notebook_parameters


class DemoFailed(AelabError):
    """A demo notebook failed; the message names the notebook, the cell and the error, and ``outcomes`` holds the
    steps run so far (the failed one last)."""

    def __init__(self, message: str, outcomes: list["StepOutcome"] | None = None):
        super().__init__(message)
        self.outcomes = list(outcomes or [])


@dataclass
class DemoOptions:
    """What ``aelab demo`` was asked for: ``passthrough`` values (data, root, backbone, weights, seed …) go to every
    notebook that has a parameter of that name; ``overrides`` maps a notebook stem to parameters of its own."""

    quick: bool = False
    n: int | None = None
    passthrough: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class StepOutcome:
    """A finished (or failed) demo step: its folder, status and results."""

    step: DemoStep
    folder: Path
    status: Status
    results: dict[str, Any]


def step_parameters(step: DemoStep, options: DemoOptions, known: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters ``step`` runs with, before the inputs from earlier notebooks are filled in."""
    parameters = dict(step.parameters)
    if options.quick:
        parameters.update(step.quick)
    if options.n is not None and step.size_parameter:
        parameters[step.size_parameter] = options.n
    parameters.update({k: v for k, v in options.passthrough.items() if v is not None and k in known})
    parameters.update(options.overrides.get(step.stem, {}))
    if "interactive" in known:  # widgets only where the plan wants their state in the report
        parameters["interactive"] = step.widgets
    return parameters


def check_plan(steps: Mapping[str, DemoStep], notebooks: Path, options: DemoOptions) -> None:
    """Every notebook exists, every parameter the plan sets is one of its parameters, every ``--set`` value has
    the type of the notebook's default and every input comes from an earlier step; raise :class:`ParameterError`
    (or :class:`~aelab.errors.ConfigError` for a value of the wrong type) otherwise, before anything runs."""
    unknown_overrides = set(options.overrides) - set(steps)
    if unknown_overrides:
        raise ParameterError(f"--set names {', '.join(sorted(unknown_overrides))}, not a demo notebook; "
                             f"the demo notebooks are: {', '.join(steps)}")
    earlier: list[str] = []
    for stem, step in steps.items():
        path = notebooks / step.notebook
        if not path.exists():
            raise ParameterError(f"demo step {stem!r}: notebook {path} not found (remove the entry from DEMO_STEPS "
                                 "or add the notebook)")
        known = notebook_parameters(path)
        parameters = step_parameters(step, options, known)
        check_parameters(path, [*parameters, *step.inputs], f"demo step {stem!r}")
        for name, value in options.overrides.get(stem, {}).items():
            check_value(path, name, value, f"--set {stem}.{name}")
        for parameter, (source, key) in step.inputs.items():
            if source not in earlier:
                raise ParameterError(f"demo step {stem!r}: input {parameter!r} comes from {source!r}, which is not "
                                     f"an earlier demo step (earlier: {', '.join(earlier) or 'none'})")
        earlier.append(stem)


def _inputs(step: DemoStep, done: Mapping[str, StepOutcome]) -> dict[str, Any]:
    values = {}
    for parameter, (source, key) in step.inputs.items():
        results = done[source].results
        if key not in results:
            raise DemoFailed(f"{step.notebook}: input {parameter!r} needs {key!r} in {source}'s results.json, "
                             f"which has only: {', '.join(results)}", list(done.values()))
        values[parameter] = results[key]
    return values


def run_demo(folder: Path, notebooks: Path, options: DemoOptions,
             steps: Mapping[str, DemoStep] = DEMO_STEPS,
             say: Callable[[str], None] = print) -> list[StepOutcome]:
    """Run ``steps`` in order into ``folder/<notebook stem>/``; a progress line per notebook. Stops at the first
    failing notebook with :class:`DemoFailed` (whose ``outcomes`` hold the steps run, the failed one last)."""
    check_plan(steps, notebooks, options)
    done: dict[str, StepOutcome] = {}
    for number, (stem, step) in enumerate(steps.items(), 1):
        path = notebooks / step.notebook
        parameters = {**step_parameters(step, options, notebook_parameters(path)), **_inputs(step, done)}
        say(f"[demo {number}/{len(steps)}] {step.notebook} …")
        start = time.perf_counter()
        target = folder / stem
        status = execute_notebook(path, target, parameters, executed_name=step.notebook)
        results_path = target / RESULTS
        results = json.loads(results_path.read_text()) if status.ok and results_path.exists() else {}
        done[stem] = StepOutcome(step, target, status, results)
        if not status.ok:
            raise DemoFailed(f"{step.notebook} failed at {status.error.describe()}\n"
                             f"executed notebook: {target / step.notebook}", list(done.values()))
        say(f"[demo {number}/{len(steps)}] {step.notebook} done in {time.perf_counter() - start:.0f} s")
    return list(done.values())
