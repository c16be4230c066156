"""A warm shutdown (systemctl stop: SIGTERM) lets the running task finish and puts the tasks the
worker had prefetched but not started back in the queue at once, not after the visibility
timeout or a liveness lapse. Measured on a worker of its own, on a Redis of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT, RedisServer, start_redis, wait_until, worker_command
from redis import Redis

from app.core.celery import create_celery_app
from app.core.config import Settings

TASKS = 5


@pytest.fixture
def lone_redis(workdir: Any) -> Iterator[RedisServer]:
    server = start_redis("warm-stop", workdir / f"warm-stop-{time.time_ns()}", None, ["--save", ""])
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def test_a_warm_stop_returns_the_prefetched_tasks_at_once(lone_redis, workdir, figures):
    url = f"redis://127.0.0.1:{lone_redis.port}/0"
    env = {**os.environ, "REDIS_URL": url, "CACHE_URL": url, "DATA_DIR": str(workdir / "warm")}
    worker = subprocess.Popen(
        worker_command(
            f"warm-{os.getpid()}@test", "default", "threads", 1, "--prefetch-multiplier", str(TASKS)
        ),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = create_celery_app(Settings(redis_url=url, cache_url=url))
    redis = Redis(port=lone_redis.port, decode_responses=True)
    try:
        results = [
            client.send_task("app.tasks.health.long_running", kwargs={"total_steps": 2})
            for _ in range(TASKS)
        ]
        # One task runs; the worker holds the others, fetched but not started.
        assert wait_until(lambda: results[0].state == "PROGRESS", timeout=60)
        assert wait_until(lambda: redis.hlen("unacked") == TASKS, timeout=30)
        stopping = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
        stopped_in = time.monotonic() - stopping
    finally:
        if worker.poll() is None:
            worker.kill()
    # The running task finishes. A thread that frees up may take the next task it was handed
    # before the pool stops (Celery's thread pool cancels what is still pending only then): it
    # runs to the end and is acknowledged. Every task that did not run is queued again.
    ran = sum(result.state == "SUCCESS" for result in results)
    figures.record(
        "Transport: redelivery",
        test="warm stop (SIGTERM) with prefetched tasks",
        seconds=round(stopped_in, 1),
        note=f"{redis.llen('default')} of {TASKS - ran} not run back in the queue at exit",
    )
    assert results[0].state == "SUCCESS"  # the running task finished
    assert ran < TASKS
    assert redis.llen("default") == TASKS - ran  # the others are queued again, right away
    assert redis.hlen("unacked") == 0  # and nothing waits for a redelivery
