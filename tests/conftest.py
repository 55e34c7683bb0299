"""Shared test fixtures, and how the suite shares out over pytest-xdist workers (``make test`` starts one per core).

A worker, and every process it starts (kernels, command lines), computes with one thread: two processes with two
OpenMP threads each on two cores slow many tiny convolutions down tenfold. A module's tests stay on one worker, as
they share module fixtures, and so do all browser tests, which share one JupyterLab and one Chromium."""

import os
from pathlib import Path

import pytest
import torch

BROWSER_TESTS = Path(__file__).resolve().parent / "browser"


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
        os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scope scheduling with one scope per test module, and one for all browser tests."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return "browser" if (Path(config.rootpath) / module).resolve().parent.is_relative_to(BROWSER_TESTS) \
                else module

    return ModuleScheduling(config, log)


@pytest.fixture(scope="module")
def one_thread():
    """Small 64 px batches gain nothing from intra-op threads, and when another process holds a core two OpenMP
    threads slow many tiny convolutions down tenfold; the previous setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Tests run with no network: any attempt to download weights fails the test, and torch.hub's cache is an
    empty folder of the test's own (``tmp_path / "torch_home"``), so no file cached on the machine is found."""
    def no_download(url, *args, **kwargs):
        raise AssertionError(f"a download of {url} was attempted")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

