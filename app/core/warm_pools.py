"""Open a worker's Redis connections when it starts, not when its first burst of tasks needs them.

A thread pool's tasks acknowledge and write their results over two shared redis-py connection
pools (the consuming channel's and the result backend's), which open a connection the first
time a thread finds none idle. Each new connection costs a TLS handshake and, with Sentinel, a
lookup of the primary: on a busy host the first burst after a restart (a rolling upgrade) waited
up to ~0.9 s for them (docs/benchmarks.md, latency at 50 % load). Opening one per thread when the
worker is ready moves that cost before the first task. A prefork child opens its result
connection when it starts; its acknowledgements go through the parent's event loop.

Connections opened here are ordinary pooled ones: idle ones are PINGed before use after the
health-check interval, and a reconnect after a lost broker opens them on demand again.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.concurrency.thread import TaskPool as ThreadTaskPool
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def open_connections(pool: Any, count: int) -> int:
    """Leave `count` connected connections idle in a redis-py pool; returns how many."""
    taken: list[Any] = []
    try:
        for _ in range(count):
            taken.append(pool.get_connection())
    finally:
        for connection in taken:
            pool.release(connection)
    return len(taken)


def task_threads(consumer: Any) -> int:
    """How many threads of this process run tasks (0 when children do)."""
    pool = consumer.pool
    return int(pool.limit) if isinstance(pool, ThreadTaskPool) else 0


def warm_worker(sender: Any = None, **_: Any) -> None:
    """Connected to `worker_ready` (its sender is the consumer): one acknowledgement and one
    result connection per task thread. Redis being away is no reason to stop the worker: the
    pools then open connections on demand, as without this."""
    threads = task_threads(sender)
    if not threads:
        return
    try:
        acks = open_connections(sender.task_consumer.channel.pool, threads)
        results = open_connections(sender.app.backend.client.connection_pool, threads)
    except (RedisError, OSError) as error:
        logger.warning("Redis connections not opened at start, they open on demand: %r", error)
        return
    logger.info("Opened %d acknowledgement and %d result connections", acks, results)


def warm_child(app: Any, **_: Any) -> None:
    """For `worker_process_init` (a prefork child; bound to the app): its result connection."""
    try:
        open_connections(app.backend.client.connection_pool, 1)
    except (RedisError, OSError) as error:
        logger.warning("Result connection not opened at start, it opens on demand: %r", error)
