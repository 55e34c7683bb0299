"""Run folders: ``runs/<name>/<utc-time>-<id>/`` (DESIGN.md "Run folder")."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path


def new_run_folder(name: str, root: str | Path = "runs") -> Path:
    """Create and return a fresh, uniquely named run folder under ``root/name``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = Path(root) / name / f"{stamp}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder
