"""Where task files live: DATA_DIR/uploads (read) and DATA_DIR/reports (written)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from app.core.config import Settings
from app.tasks.base import InvalidInput

UPLOADS = "uploads"
REPORTS = "reports"


def area(settings: Settings, name: str) -> Path:
    """DATA_DIR/<name>, created on first use."""
    path = settings.data_dir / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_inside(settings: Settings, name: str, relative: str) -> Path:
    """A file inside DATA_DIR/<name>; absolute paths and '..' escapes are refused."""
    base = area(settings, name).resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base) or candidate == base:
        raise InvalidInput(f"path must name a file inside the {name} folder")
    return candidate


@contextmanager
def atomic_write(path: Path, mode: str = "w", **kwargs: object) -> Iterator[IO[str]]:
    """Write to a temporary file beside `path` and rename it: readers never see half a file,
    and a task that runs twice simply replaces its own output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        with open(temporary, mode, **kwargs) as handle:  # type: ignore[call-overload]
            yield handle
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
