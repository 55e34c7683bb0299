"""Shared test fixtures."""

import pytest
import torch


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
