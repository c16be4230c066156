"""A thread-pool worker opens its acknowledgement and result connections when it starts
(app.core.warm_pools), and its threads share them (one result backend per process, app.main):
the first burst of tasks after a restart opens none."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, RedisServer, role_acl_users, start_redis, wait_until, worker_command

THREADS = 6
CANARY = "app.tasks.health.canary"


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def at_least(count: int, floor: int) -> int:
    return count if count >= floor else 0


def connections_of(broker: RedisServer, pid: int) -> int:
    """How many connections the broker's Redis has from that process."""
    ports = local_ports(pid)
    clients = broker.client().client_list()
    return sum(1 for client in clients if int(client["addr"].rsplit(":", 1)[1]) in ports)


@pytest.fixture(scope="module")
def own_broker() -> Iterator[RedisServer]:
    """A broker of its own: no other worker of the session takes this test's tasks."""
    users = {u: r for u, r in role_acl_users().items() if u in ("celery", "monitor", "admin")}
    workdir = Path(tempfile.mkdtemp(prefix="warm-broker-"))
    server = start_redis("warm-broker", workdir / "redis", users, ["--save", ""])
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def test_thread_worker_opens_its_connections_at_start_not_during_the_first_burst(
    app_env: dict[str, str], own_broker: RedisServer, settings: Any, workdir: Path
) -> None:
    from app.core.celery import create_celery_app

    urls = {"REDIS_URL": own_broker.url("celery"), "REDIS_MONITOR_URL": own_broker.url("monitor")}
    env = {**app_env, **urls}
    client = create_celery_app(settings.model_copy(update={"redis_url": urls["REDIS_URL"]}))
    node = f"warm-{os.getpid()}@pytest"
    log = (workdir / "warm-worker.out").open("wb")
    command = worker_command(node, "default", "threads", THREADS, "--loglevel", "INFO")
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: any(node in r for r in client.control.ping(timeout=0.5)), 60)
        # Consuming, pub/sub, events and control take a few of their own; one per thread for
        # acknowledgements and one per thread for results come on top.
        opened = wait_until(lambda: at_least(connections_of(own_broker, process.pid), 2 * THREADS))
        # A burst that keeps every thread busy opens none (one backend for all threads).
        results = [client.send_task(CANARY, queue="default") for _ in range(20 * THREADS)]
        for result in results:
            result.get(timeout=30)
        assert connections_of(own_broker, process.pid) <= opened + 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
