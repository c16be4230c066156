"""A thread-pool worker opens its acknowledgement and result connections when it starts
(app.core.warm_pools): the first burst of tasks after a restart finds them open."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from conftest import ROOT, RedisServer, wait_until, worker_command

THREADS = 6


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


def connections_of(broker: RedisServer, pid: int) -> int:
    """How many connections the broker's Redis has from that process."""
    ports = local_ports(pid)
    clients = broker.client().client_list()
    return sum(1 for client in clients if int(client["addr"].rsplit(":", 1)[1]) in ports)


def test_thread_worker_opens_a_connection_per_thread_for_acks_and_results(
    app_env: dict[str, str], broker: RedisServer, celery_client: Any, workdir: Path
) -> None:
    node = f"warm-{os.getpid()}@pytest"
    log = (workdir / "warm-worker.out").open("wb")
    # A queue nothing publishes to: no task opens a connection, only the start does.
    command = worker_command(node, "reports", "threads", THREADS, "--loglevel", "INFO")
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **app_env}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: any(node in r for r in celery_client.control.ping(timeout=0.5)), 60)
        # Consuming, pub/sub, events and control take a few of their own; one per thread for
        # acknowledgements and one per thread for results come on top.
        wait_until(lambda: connections_of(broker, process.pid) >= 2 * THREADS)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
