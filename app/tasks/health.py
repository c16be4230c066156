"""`default` queue: connectivity check, basic operations, progress reporting, canary, drills."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from app.tasks.arguments import Arithmetic, Canary, CheckRedis, LongRunning, RetryProbe, Tally
from app.tasks.base import MatchbotTask, TransientError, cache_client, task

OPERATIONS: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum,
    "product": math.prod,
    "min": min,
    "max": max,
}


@task(CheckRedis)
def check_redis(self: MatchbotTask) -> dict[str, Any]:
    """Round trip through the cache instance: PING, SET with a TTL, GET, DEL."""
    client = cache_client(self.settings)
    started = time.perf_counter()
    key = f"cache:health:{self.request.id}"
    client.ping()
    client.set(key, "ok", ex=60)
    value = client.get(key)
    client.delete(key)
    if value != "ok":
        raise TransientError("the cache did not return the value just written")
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


@task(Arithmetic)
def arithmetic(self: MatchbotTask, operation: str, operands: list[float]) -> float:
    """Basic operations on a list of numbers: sum, product, min, max."""
    return float(OPERATIONS[operation](operands))


@task(LongRunning)
def long_running(self: MatchbotTask, total_steps: int, step_seconds: float) -> dict[str, int]:
    """A long task reporting PROGRESS (current/total) after each step."""
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


@task(Canary)
def canary(self: MatchbotTask) -> dict[str, Any]:
    """The health check's round trip: proves a worker consumed and stored a result."""
    return {"worker": self.request.hostname, "at": time.time()}


@task(RetryProbe)
def retry_probe(self: MatchbotTask, probe_id: str, failures: int) -> dict[str, int]:
    """Drill: fails transiently `failures` times, then succeeds; shows retry with backoff."""
    key = f"cache:retry-probe:{probe_id}"
    # The cache user may not MULTI: a plain pipeline.
    pipeline = cache_client(self.settings).pipeline(transaction=False)
    pipeline.incr(key)
    pipeline.expire(key, 3600)
    attempts = int(pipeline.execute()[0])
    if attempts <= failures:
        raise TransientError(f"simulated transient failure {attempts} of {failures}")
    return {"attempts": attempts, "retries": self.request.retries}


TALLY_TTL_SECONDS = 24 * 60 * 60


@task(Tally)
def tally(self: MatchbotTask, batch: str, index: int, hold_seconds: float) -> int:
    """Drill: counts each execution of task `index` of `batch` in the cache hash
    `cache:tally:<batch>` (field = index), after holding a worker slot for `hold_seconds`.
    A field missing after the batch means a lost task; a count above 1, a duplicate run."""
    time.sleep(hold_seconds)
    key = f"cache:tally:{batch}"
    # The cache user may not MULTI: a plain pipeline.
    pipeline = cache_client(self.settings).pipeline(transaction=False)
    pipeline.hincrby(key, str(index), 1)
    pipeline.expire(key, TALLY_TTL_SECONDS)
    return int(pipeline.execute()[0])
