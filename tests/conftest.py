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
def offline(monkeypatch):
    """Any attempt to download weights fails the test (tests run with no network)."""
    def no_download(url, *args, **kwargs):
        raise AssertionError(f"a download of {url} was attempted")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
