"""Releases a drill deploys: a copy of the project's release sources with the app changed, so
site.yml builds and rolls out a new release (or one that cannot start)."""

from __future__ import annotations

import shutil
from pathlib import Path

# What a release is built from (roles/app_deploy/files/build_wheelhouse.py).
RELEASE_SOURCES = ("app", "pyproject.toml", "README.md", "requirements")
# A module only the workers import (a task module): a release that breaks it installs, and its
# drain and readiness checks run, but no worker of it can start.
WORKER_ONLY_MODULE = Path("app") / "tasks" / "health.py"


def project_with_a_changed_app(project: Path, destination: Path, marker: str) -> Path:
    """A copy of `project`'s release sources with one comment added to the app: a new release."""
    for name in RELEASE_SOURCES:
        source = project / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / name)
    with (destination / "app" / "__init__.py").open("a") as handle:
        handle.write(f"# {marker}\n")
    return destination


# The `-e` a deploy of such a release passes: its workers fail at once, so its readiness check
# need not wait the default 120 s.
CANNOT_START_READY_TIMEOUT = "celery_worker_ready_timeout=15"


def project_whose_workers_cannot_start(project: Path, destination: Path, marker: str) -> Path:
    """A new release whose workers fail at import (as a release with a broken task module)."""
    project_with_a_changed_app(project, destination, marker)
    with (destination / WORKER_ONLY_MODULE).open("a") as handle:
        handle.write(f"\nraise RuntimeError({marker!r})\n")
    return destination
