"""Readers and writers of the published data set layouts (docs/science.md §2.1), looked up by name.

>>> samples = read_dataset("fi", "/data/FI")                      # doctest: +SKIP
>>> write_dataset(samples, "/tmp/fi-copy", "artphoto")            # doctest: +SKIP

Every reader takes the root folder plus keyword options (all accept ``strict`` and ``verify``) and returns
:class:`~aelab.data.sample.Sample` objects with canonical labels; every writer takes samples, a root and
options, writes the layout so that the matching reader reads the same labels back, and returns the root.
A new data set is one new entry in :data:`READERS` and :data:`WRITERS`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aelab.data.formats.artphoto import read_artphoto, write_artphoto
from aelab.data.formats.ava import read_ava, write_ava
from aelab.data.formats.fi import read_fi, write_fi
from aelab.data.formats.synthae import read_synthae, write_synthae
from aelab.data.formats.twitter import read_twitter, write_twitter
from aelab.data.formats.uae import read_iae, read_uae, write_iae, write_uae
from aelab.data.sample import Sample
from aelab.errors import UnknownNameError

Reader = Callable[..., list[Sample]]
Writer = Callable[..., Path]

READERS: dict[str, Reader] = {
    "fi": read_fi,
    "uae": read_uae,
    "iae": read_iae,
    "twitter": read_twitter,
    "ava": read_ava,
    "artphoto": read_artphoto,
    "synthae": read_synthae,
}
"""Layout name → reader ``(root, **options) -> list[Sample]``."""

WRITERS: dict[str, Writer] = {
    "fi": write_fi,
    "uae": write_uae,
    "iae": write_iae,
    "twitter": write_twitter,
    "ava": write_ava,
    "artphoto": write_artphoto,
    "synthae": write_synthae,
}
"""Layout name → writer ``(samples, root, **options) -> Path``."""


def _lookup(registry: dict[str, Callable], kind: str, what: str, role: str, options: dict[str, Any]) -> Callable:
    """The registered function, after checking the name and the option names (UnknownNameError otherwise)."""
    if kind not in registry:
        raise UnknownNameError(what, kind, sorted(registry))
    function = registry[kind]
    accepted = [p.name for p in inspect.signature(function).parameters.values() if p.kind is p.KEYWORD_ONLY]
    for name in options:
        if name not in accepted:
            raise UnknownNameError(f"option of the {kind!r} {role}", name, accepted)
    return function


def read_dataset(kind: str, root: str | Path, **options: Any) -> list[Sample]:
    """Read the data set at ``root`` in layout ``kind`` (a key of :data:`READERS`) with the reader's options;
    with ``cache=FOLDER`` from a decoded cache of it instead (:func:`aelab.data.cache.read_cached`)."""
    if "cache" in options:
        from aelab.data.cache import read_cached

        return read_cached(kind, root, **options)
    return _lookup(READERS, kind, "data set kind", "reader", options)(root, **options)


def write_dataset(samples: Sequence[Sample], root: str | Path, layout: str, **options: Any) -> Path:
    """Write ``samples`` under ``root`` in ``layout`` (a key of :data:`WRITERS`); returns the root."""
    return Path(_lookup(WRITERS, layout, "layout", "writer", options)(list(samples), root, **options))


__all__ = ["READERS", "WRITERS", "read_dataset", "write_dataset"]
