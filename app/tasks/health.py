"""`default` queue: connectivity check, basic operations, progress reporting, canary, drills."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from app.core.celery import app as celery_app
from app.tasks.base import (
    MatchbotTask,
    TransientError,
    cache_client,
    require,
    require_type,
)

OPERATIONS: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum,
    "product": math.prod,
    "min": min,
    "max": max,
}
MAX_OPERANDS = 10_000
MAX_STEPS = 100_000


@celery_app.task(base=MatchbotTask, bind=True, name="app.tasks.health.check_redis")
def check_redis(self: MatchbotTask) -> dict[str, Any]:
    """Round trip through the cache instance: PING, SET with a TTL, GET, DEL."""
    client = cache_client()
    started = time.perf_counter()
    key = f"cache:health:{self.request.id}"
    client.ping()
    client.set(key, "ok", ex=60)
    value = client.get(key)
    client.delete(key)
    if value != "ok":
        raise TransientError("the cache did not return the value just written")
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


@celery_app.task(base=MatchbotTask, name="app.tasks.health.arithmetic")
def arithmetic(operation: str, operands: list[float]) -> float:
    """Basic operations on a list of numbers: sum, product, min, max."""
    require(operation in OPERATIONS, f"operation must be one of {sorted(OPERATIONS)}")
    require_type(operands, list, "operands")
    require(0 < len(operands) <= MAX_OPERANDS, f"operands must hold 1 to {MAX_OPERANDS} numbers")
    for index, value in enumerate(operands):
        require_type(value, (int, float), f"operands[{index}]")
    return float(OPERATIONS[operation](operands))


@celery_app.task(base=MatchbotTask, bind=True, name="app.tasks.health.long_running")
def long_running(self: MatchbotTask, total_steps: int, step_seconds: float = 1.0) -> dict[str, int]:
    """A long task reporting PROGRESS (current/total) after each step."""
    require_type(total_steps, int, "total_steps")
    require_type(step_seconds, (int, float), "step_seconds")
    require(0 < total_steps <= MAX_STEPS, f"total_steps must be between 1 and {MAX_STEPS}")
    require(0 <= step_seconds <= 60, "step_seconds must be between 0 and 60")
    done = 0
    try:
        for done in range(1, total_steps + 1):
            time.sleep(step_seconds)
            self.update_state(state="PROGRESS", meta={"current": done, "total": total_steps})
    except SoftTimeLimitExceeded:
        raise SoftTimeLimitExceeded(
            f"soft time limit reached after step {done - 1} of {total_steps}"
        ) from None
    return {"current": total_steps, "total": total_steps}


@celery_app.task(base=MatchbotTask, bind=True, name="app.tasks.health.canary")
def canary(self: MatchbotTask) -> dict[str, Any]:
    """The health check's round trip: proves a worker consumed and stored a result."""
    return {"worker": self.request.hostname, "at": time.time()}


@celery_app.task(base=MatchbotTask, bind=True, name="app.tasks.health.retry_probe")
def retry_probe(self: MatchbotTask, probe_id: str, failures: int) -> dict[str, int]:
    """Drill: fails transiently `failures` times, then succeeds; shows retry with backoff."""
    require_type(probe_id, str, "probe_id")
    require_type(failures, int, "failures")
    require(0 <= failures <= 10, "failures must be between 0 and 10")
    require(0 < len(probe_id) <= 100, "probe_id must be 1 to 100 characters")
    key = f"cache:retry-probe:{probe_id}"
    pipeline = cache_client().pipeline(transaction=False)  # the cache user may not MULTI
    pipeline.incr(key)
    pipeline.expire(key, 3600)
    attempts = int(pipeline.execute()[0])
    if attempts <= failures:
        raise TransientError(f"simulated transient failure {attempts} of {failures}")
    return {"attempts": attempts, "retries": self.request.retries}


TALLY_TTL_SECONDS = 24 * 60 * 60


@celery_app.task(base=MatchbotTask, name="app.tasks.health.tally")
def tally(batch: str, index: int, hold_seconds: float = 0.0) -> int:
    """Drill: counts each execution of task `index` of `batch` in the cache hash
    `cache:tally:<batch>` (field = index), after holding a worker slot for `hold_seconds`.
    A field missing after the batch means a lost task; a count above 1, a duplicate run."""
    require_type(batch, str, "batch")
    require(0 < len(batch) <= 100, "batch must be 1 to 100 characters")
    require_type(index, int, "index")
    require(index >= 0, "index must not be negative")
    require_type(hold_seconds, (int, float), "hold_seconds")
    require(0 <= hold_seconds <= 10, "hold_seconds must be between 0 and 10")
    time.sleep(hold_seconds)
    key = f"cache:tally:{batch}"
    pipeline = cache_client().pipeline(transaction=False)  # the cache user may not MULTI
    pipeline.hincrby(key, str(index), 1)
    pipeline.expire(key, TALLY_TTL_SECONDS)
    return int(pipeline.execute()[0])
