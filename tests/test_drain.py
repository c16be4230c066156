"""The drain a rolling upgrade runs before a worker restarts (app.ops.workers): the node stops
consuming, the tasks it had started or prefetched finish there, the rest stay queued, nothing
waits in `unacked`; a node still busy at the deadline consumes again. `ready` sees the node
serve its queues. A real worker on a Redis of its own."""

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
from app.ops import workers

PREFETCHED = 3
QUEUED = 4
LONG = "app.tasks.health.long_running"


@pytest.fixture
def drill(workdir: Any) -> Iterator[tuple[Any, Redis, str]]:
    """A worker (one thread, prefetching PREFETCHED) on its own Redis: (client, redis, node)."""
    server: RedisServer = start_redis(
        "drain", workdir / f"drain-{time.time_ns()}", None, ["--save", ""]
    )
    url = f"redis://127.0.0.1:{server.port}/0"
    env = {**os.environ, "REDIS_URL": url, "CACHE_URL": url, "DATA_DIR": str(workdir / "drain")}
    node = f"drain-{os.getpid()}@test"
    process = subprocess.Popen(
        worker_command(node, "default", "threads", 1, "--prefetch-multiplier", str(PREFETCHED)),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = create_celery_app(Settings(redis_url=url, cache_url=url))
    try:
        assert workers.ready(client.control, node, ["default"], timeout=60).done
        yield client, Redis(port=server.port, decode_responses=True), node
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        server.process.terminate()
        server.process.wait(timeout=10)


def test_a_drained_worker_finishes_what_it_holds_and_takes_nothing_more(drill, figures):
    client, redis, node = drill
    held = [client.send_task(LONG, kwargs={"total_steps": 1}) for _ in range(PREFETCHED)]
    assert wait_until(lambda: redis.hlen("unacked") == PREFETCHED, timeout=30)
    outcome = workers.drain(client.control, node, ["default"], timeout=60)
    queued = [client.send_task(LONG, kwargs={"total_steps": 1}) for _ in range(QUEUED)]
    figures.record(
        "Transport: redelivery",
        test="drain before a rolling restart",
        seconds=outcome.seconds,
        note=f"{PREFETCHED} held tasks finished on the node; {QUEUED} later ones left queued",
    )
    assert outcome.done, outcome
    assert [result.state for result in held] == ["SUCCESS"] * PREFETCHED
    assert redis.hlen("unacked") == 0
    assert redis.llen("default") == QUEUED  # taken by nobody: the node consumes no more
    assert workers.ready(client.control, node, ["default"], timeout=1).done is False
    for result in queued:
        result.forget()


def test_a_drain_that_times_out_leaves_the_node_serving(drill):
    client, _, node = drill
    busy = client.send_task(LONG, kwargs={"total_steps": 5})
    assert wait_until(lambda: busy.state == "PROGRESS", timeout=30)
    outcome = workers.drain(client.control, node, ["default"], timeout=1)
    assert not outcome.done and outcome.detail["tasks_held"] == 1, outcome
    assert workers.ready(client.control, node, ["default"], timeout=10).done
