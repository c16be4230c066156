"""`cleanup` queue: remove expired upload/report files and stale cache keys (beat runs it)."""

from __future__ import annotations

import time
from typing import Any

from app.core.config import Settings
from app.tasks.arguments import Cleanup
from app.tasks.base import MatchbotTask, cache_client, task
from app.tasks.storage import REPORTS, UPLOADS, area

CACHE_PATTERN = "cache:*"
SCAN_BATCH = 500


@task(Cleanup)
def cleanup_expired(self: MatchbotTask, max_age_seconds: int | None) -> dict[str, Any]:
    """Delete files older than max_age_seconds and cache keys without a TTL idle that long.

    Idempotent: a second run finds nothing more to remove.
    """
    settings = self.settings
    max_age = settings.cleanup_max_age_seconds if max_age_seconds is None else max_age_seconds
    return {
        "files_removed": remove_old_files(settings, max_age),
        "cache_keys_removed": remove_idle_cache_keys(settings, max_age),
        "max_age_seconds": max_age,
    }


def remove_old_files(settings: Settings, max_age: int) -> int:
    cutoff = time.time() - max_age
    removed = 0
    for name in (UPLOADS, REPORTS):
        for path in area(settings, name).rglob("*"):
            if path.is_file() and path.stat().st_mtime <= cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def remove_idle_cache_keys(settings: Settings, max_age: int) -> int:
    """Keys with a TTL expire by themselves; the others go once idle longer than max_age."""
    client = cache_client(settings)
    removed = 0
    for key in client.scan_iter(match=CACHE_PATTERN, count=SCAN_BATCH):
        if client.ttl(key) != -1:
            continue
        idle = client.object("idletime", key)
        if idle is not None and int(idle) >= max_age:
            removed += client.delete(key)
    return removed
