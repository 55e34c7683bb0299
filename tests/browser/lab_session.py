"""JupyterLab and headless Chromium for the browser tests: start the server, write notebook copies with tiny
parameters, open a notebook, run all its cells the way a person does (the Run menu) and wait for them to finish."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
STARTUP_SECONDS = 120
# JupyterLab settings for a quiet, fully rendered notebook: every cell in the page (no windowing), the kernel
# started without asking, no news or update pop-ups over the widgets.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                   "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def missing_requirement() -> str | None:
    """Why the browser tests cannot run here (Chromium or the Playwright package absent), or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab serving ``root``."""

    process: subprocess.Popen
    root: Path
    url: str
    token: str

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_lab(root: Path, log: Path) -> Lab:
    """Start JupyterLab from this Python environment on a free loopback port, serving ``root`` (settings,
    workspaces and runtime files kept under ``root/.jupyter`` so nothing outside is read or written)."""
    home = root / ".jupyter"
    settings = home / "lab-settings"
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--allow-root", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
               "--ServerApp.open_browser=False", "--LabApp.news_url=", "--ServerApp.port_retries=0"]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    lab = Lab(process, root, f"http://127.0.0.1:{port}", token)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=5) as reply:
                if reply.status == 200:
                    return lab
        except OSError:
            time.sleep(0.5)  # polling the server until it answers, not a check
    lab.stop()
    raise RuntimeError(f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def write_notebook(source: str, folder: Path, parameters: dict) -> Path:
    """A copy of ``notebooks/<source>`` in ``folder`` whose parameters cell assigns ``parameters`` instead of
    the committed defaults (every name must already be a parameter)."""
    notebook = json.loads((NOTEBOOKS / source).read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    lines = "".join(cell["source"]).splitlines()
    assigned = {}
    for index, line in enumerate(lines):
        match = re.match(r"(\w+) = ", line)
        if match and match.group(1) in parameters:
            lines[index] = f"{match.group(1)} = {parameters[match.group(1)]!r}"
            assigned[match.group(1)] = True
    unknown = set(parameters) - set(assigned)
    if unknown:
        raise KeyError(f"not parameters of {source}: {sorted(unknown)}")
    cell["source"] = "\n".join(lines) + "\n"
    path = folder / source
    path.write_text(json.dumps(notebook, indent=1))
    return path


class Shots:
    """Numbered screenshots of each step in one folder."""

    def __init__(self, folder: Path, publish: Path | None = None):
        self.folder, self.publish, self.count = folder, publish, 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page, name: str, element=None) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}_{name}.png"
        (element or page).screenshot(path=str(path))
        return path

    def keep(self, path: Path, name: str) -> None:
        """Also copy ``path`` to ``$AELAB_SCREENSHOTS/name`` when that folder is given (the README's images)."""
        if self.publish is not None:
            self.publish.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.publish / name)


def run_all_cells(page, lab: Lab, name: str, timeout_s: float) -> None:
    """Open notebook ``name``, wait for its kernel, run every cell from the Run menu and wait until each code
    cell has its execution number; fail with the first error output if a cell raised."""
    from playwright.sync_api import expect

    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.locator(".jp-DirListing-item", has_text=name).dblclick(timeout=120_000)
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    expect(notebook.locator(".jp-CodeCell").first).to_be_visible(timeout=120_000)
    expect(page.locator(".jp-StatusBar-TextItem", has_text="| Idle")).to_be_visible(timeout=120_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    prompts = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt"
    errors = (".jp-NotebookPanel:not(.lm-mod-hidden) "
              ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    failed = """(selector) => [...document.querySelectorAll(selector)].filter(
                  e => e.textContent.includes('Traceback (most recent call last)'))"""
    page.wait_for_function(
        f"""([prompts, errors]) => ({failed})(errors).length > 0 ||
             [...document.querySelectorAll(prompts)].every(p => /\\[\\d+\\]/.test(p.textContent))""",
        arg=[prompts, errors], timeout=timeout_s * 1000, polling=500)
    tracebacks = page.evaluate(f"(errors) => ({failed})(errors).map(e => e.textContent)", errors)
    text = tracebacks[0] if tracebacks else ""
    assert not tracebacks, f"{name} failed in the browser:\n{text[:2500]}\n…\n{text[-2500:]}"


def open_and_run(page, lab: Lab, notebook: str, parameters: dict, widget_class: str, timeout_s: float):
    """Write a copy of ``notebook`` with ``parameters``, run it in the lab and return the locator of the widget
    carrying CSS class ``widget_class`` once it is visible."""
    from playwright.sync_api import expect

    write_notebook(notebook, lab.root, parameters)
    run_all_cells(page, lab, notebook, timeout_s=timeout_s)
    widget = page.locator(f".{widget_class}")
    expect(widget).to_be_visible(timeout=timeout_s * 1000)
    return widget


def type_into_slider(page, widget, description: str, text: str, shown: str) -> None:
    """Type ``text`` into the readout of ``widget``'s slider labelled ``description`` (as a person does: click,
    select all, type, Enter) and wait until the readout shows ``shown``."""
    from playwright.sync_api import expect

    readout = widget.locator(".widget-slider", has_text=description).locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    expect(readout).to_have_text(shown)
