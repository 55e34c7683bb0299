"""Fixtures of the browser tests: tiny trained runs, one JupyterLab in a temporary folder and one headless
Chromium page. Every test here is skipped, with the reason, when Chromium or Playwright is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lab_session import CHROMIUM, Shots, missing_requirement, start_lab

MISSING = missing_requirement()
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if MISSING:
        for item in items:
            if HERE in Path(item.fspath).resolve().parents:
                item.add_marker(pytest.mark.skip(reason=f"browser tests need Chromium and Playwright: {MISSING}"))


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """The folder JupyterLab serves: notebook copies, runs and the server's own settings live here."""
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def trained(workspace) -> dict[str, str]:
    """Tiny runs trained once: a multi-task run for the explorer (64 px: its last layer keeps 2 x 2 positions for
    the default 2 neuron groups), a sentiment base run for the selection."""
    from aelab.selection import sentiment_config
    from aelab.train import TrainConfig, fit

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        explorer = fit(TrainConfig(arch="afi", n_images=200, image_size=64, epochs=1, batch_size=32,
                                   progress=False, grad_ratio_every=0, output=str(workspace / "runs")))
        base = fit(sentiment_config(workspace / "runs", n_images=96, image_size=32, epochs=1).replace(name="base"))
    finally:
        torch.set_num_threads(threads)
    return {"explorer": str(explorer.folder), "selection": str(base.folder)}


@pytest.fixture(scope="session")
def lab(workspace):
    server = start_lab(workspace, workspace.parent / "jupyterlab.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "call":
        item.call_failed = report.failed


@pytest.fixture
def page(browser, tmp_path, request):
    """A fresh page; when the test fails, a screenshot of the whole page is left in its folder as failure.png."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    yield page
    if getattr(request.node, "call_failed", False):
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
    context.close()


@pytest.fixture
def shots(tmp_path) -> Shots:
    """Screenshots of each step in the test's own folder; the README's images also go to $AELAB_SCREENSHOTS."""
    publish = os.environ.get("AELAB_SCREENSHOTS")
    return Shots(tmp_path / "screenshots", Path(publish) if publish else None)
