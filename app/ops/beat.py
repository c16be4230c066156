"""What beat's schedule file holds: each periodic task's last run and run count.

Beat keeps its state in BEAT_SCHEDULE_FILE on the beat host's data folder, outside any release,
so a restart or an upgrade goes on from the last run instead of starting the intervals over.
Read-only: safe while beat runs."""

from __future__ import annotations

import shelve
from pathlib import Path
from typing import Any


def schedule_state(path: Path) -> dict[str, dict[str, Any]]:
    """Entry name → its last run (ISO 8601) and how many times it ran."""
    with shelve.open(str(path), flag="r") as store:  # noqa: S301 - beat's own file, root-owned folder
        entries = store.get("entries", {})
        return {
            name: {
                "last_run_at": entry.last_run_at.isoformat(),
                "total_run_count": entry.total_run_count,
            }
            for name, entry in entries.items()
        }
