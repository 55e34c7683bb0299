"""The layout registries behind read_dataset / write_dataset."""

import pytest
from format_fixtures import synth_samples

from aelab.data.formats import READERS, WRITERS, read_dataset, write_dataset
from aelab.errors import UnknownNameError


def test_every_layout_has_a_reader_and_a_writer():
    assert set(READERS) == set(WRITERS) == {"fi", "uae", "iae", "twitter", "ava", "artphoto", "synthae"}


def test_unknown_kind_and_option_list_what_exists(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown data set kind 'imagenet'; expected one of: artphoto, ava, fi"):
        read_dataset("imagenet", tmp_path)
    with pytest.raises(UnknownNameError, match="unknown layout 'coco'; expected one of: artphoto, ava"):
        write_dataset([], tmp_path, "coco")
    with pytest.raises(UnknownNameError, match="unknown option of the 'twitter' reader 'agrees'; expected one of: agree, strict, verify"):
        read_dataset("twitter", tmp_path, agrees="four")


def test_new_layout_is_one_registry_entry(tmp_path, monkeypatch):
    monkeypatch.setitem(READERS, "mine", lambda root, *, flag=False: [flag])
    assert read_dataset("mine", tmp_path, flag=True) == [True]
    assert write_dataset(synth_samples(3), tmp_path / "x", "artphoto") == tmp_path / "x"
