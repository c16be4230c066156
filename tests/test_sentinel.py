"""The app on a replicated broker watched by three Sentinels (sentinel:// URLs): Celery, the
atomic fetch and the health check find the primary through the Sentinels, and keep working
across a switchover without a restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import (
    API_HEADERS,
    MASTER,
    ROOT,
    RedisServer,
    SentinelSet,
    api_clients_file,
    wait_until,
    worker_command,
)
from fastapi.testclient import TestClient
from kombu import Connection, Consumer, Exchange, Queue

from app.api.main import create_app
from app.core import redis_endpoints
from app.core.celery import create_celery_app
from app.core.config import Settings
from app.tasks.base import cache_client

OURS = "app.core.broker_transport:SentinelTransport"
QUEUE = "celery-sentinel-drill"


def settings_for(sentinels: SentinelSet, cache: RedisServer, workdir: Any) -> dict[str, str]:
    return {
        "ENVIRONMENT": "production",
        "REDIS_ALLOW_PLAINTEXT": "true",  # loopback; TLS through Sentinels: test_tls.py
        "REDIS_URL": sentinels.url("celery"),
        "REDIS_MONITOR_URL": sentinels.url("monitor"),
        "CACHE_URL": cache.url("app"),
        "REDIS_SENTINEL_MASTER": MASTER,
        "REDIS_SENTINEL_USERNAME": "sentinel-client",
        "REDIS_SENTINEL_PASSWORD": sentinels.passwords["sentinel-client"],
        "DATA_DIR": str(workdir / "sentinel-data"),
        "BROKER_CONSUMER_LIVENESS_SECONDS": "2",
        "API_CLIENTS_FILE": str(api_clients_file(workdir)),
    }


@pytest.fixture(scope="module")
def sentinel_env(sentinel_set, cache, workdir) -> dict[str, str]:
    return settings_for(sentinel_set, cache, workdir)


@pytest.fixture(scope="module")
def sentinel_worker(sentinel_env) -> Iterator[subprocess.Popen[bytes]]:
    node = f"sentinel-{os.getpid()}@{socket.gethostname()}"
    worker = subprocess.Popen(
        worker_command(node, "default", "threads", 2),
        cwd=ROOT,
        env={**os.environ, **sentinel_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield worker
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)


def client_for(env: dict[str, str]) -> Any:
    return create_celery_app(Settings(**{key.lower(): value for key, value in env.items()}))


def test_tasks_run_through_the_sentinels_and_across_a_switchover(
    sentinel_set, sentinel_env, sentinel_worker
):
    client = client_for(sentinel_env)
    assert client.send_task("app.tasks.health.canary").get(timeout=60)["worker"]
    before = sentinel_set.primary()
    assert sentinel_set.sentinel().execute_command("SENTINEL FAILOVER", MASTER) in ("OK", True)
    assert wait_until(lambda: sentinel_set.primary() is not before, timeout=30)

    def round_trip() -> bool:
        try:
            return bool(client.send_task("app.tasks.health.canary").get(timeout=5))
        except Exception:  # the client is still finding the new primary
            return False

    assert wait_until(round_trip, timeout=60, interval=1)
    assert sentinel_worker.poll() is None  # the worker rode the switchover out, not restarted
    assert wait_until(lambda: sentinel_set.replicas_online() == 1, timeout=30)


def test_the_atomic_fetch_keeps_a_message_over_sentinel(sentinel_set):
    """The same no-loss check as for redis:// URLs: a consumer killed right after the fetch
    leaves the message in `unacked` on the primary, and a survivor gets it back."""
    url = sentinel_set.url("celery")
    options = {"master_name": MASTER, "sentinel_kwargs": sentinel_set.sentinel_kwargs()}
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with Connection(url, transport=OURS, transport_options=options) as connection:
        connection.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key=QUEUE, declare=[queue]
        )
    program = [sys.executable, str(ROOT / "tests/programs/fetch_and_hang.py"), url, OURS, QUEUE]
    consumer = subprocess.Popen(
        [*program, json.dumps({**options, "consumer_liveness": 1})],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    admin = sentinel_set.primary().client()
    try:
        assert consumer.stdout is not None and consumer.stdout.readline() == b"fetching\n"
        assert wait_until(lambda: admin.llen(QUEUE) == 0)
    finally:
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=10)
    assert any(QUEUE in entry for entry in admin.hvals("unacked"))
    received: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        received.append(body)
        message.ack()

    survivor_options = {**options, "consumer_liveness": 1}
    with (
        Connection(url, transport=OURS, transport_options=survivor_options) as survivor,
        Consumer(survivor, [queue], accept=["json"], callbacks=[on_message]),
    ):
        deadline = time.monotonic() + 30  # the liveness lapses in 1 s; the visibility is 1 h
        while not received and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout, TimeoutError):
                survivor.drain_events(timeout=1)
    assert received == [{"n": 1}]


def test_a_connection_made_during_a_failover_waits_for_the_new_primary(sentinel_set):
    """While the primary is lost (frozen: its port accepts, nothing answers) and before the
    Sentinels promote the replica, a single connection attempt waits for the promotion instead
    of failing (Celery's reconnect loop would sleep 2, 4, 6 s between attempts)."""
    old = sentinel_set.primary()
    options = {
        "master_name": MASTER,
        "sentinel_kwargs": sentinel_set.sentinel_kwargs(),
        "socket_timeout": 1,
        "socket_connect_timeout": 1,
        "failover_wait": 30,
    }
    old.process.send_signal(signal.SIGSTOP)
    try:
        with Connection(sentinel_set.url("celery"), transport=OURS, transport_options=options) as c:
            c.ensure_connection(max_retries=0)  # one attempt, no retry by kombu
            assert c.default_channel.client.ping()
        assert sentinel_set.primary() is not old
    finally:
        old.process.send_signal(signal.SIGCONT)
    assert wait_until(lambda: sentinel_set.replicas_online() == 1, timeout=30)


def test_health_reports_the_primary_its_replicas_and_the_sentinels(sentinel_set, sentinel_env):
    settings = Settings(**{key.lower(): value for key, value in sentinel_env.items()})
    response = TestClient(create_app(settings), headers=API_HEADERS).get("/health-check/redis")
    assert response.status_code == 200, response.text
    broker = response.json()["broker"]
    assert broker["role"] == "master"
    assert [r["state"] for r in broker["replicas"]] == ["online"]
    assert broker["sentinels"]["answering"] == 3
    assert broker["sentinels"]["failover_possible"] is True
    assert broker["sentinels"]["primary"] == f"127.0.0.1:{sentinel_set.primary().port}"
    for password in sentinel_set.passwords.values():
        assert password not in response.text


def test_health_says_when_the_sentinels_can_no_longer_fail_over(sentinel_set, sentinel_env):
    """Two of three Sentinels down: the one left still names the primary but answers CKQUORUM
    with an error (NOQUORUM); health counts it as answering and says no failover is possible."""
    settings = Settings(**{key.lower(): value for key, value in sentinel_env.items()})
    api = TestClient(create_app(settings), headers=API_HEADERS)

    def sentinels() -> Any:
        return api.get("/health-check/redis").json()["broker"]["sentinels"]

    expected = {
        "answering": 1,
        "primary": f"127.0.0.1:{sentinel_set.primary().port}",
        "failover_possible": False,
    }
    for index in (1, 2):
        sentinel_set.stop_sentinel(index)
    try:
        # The one left counts its peers out after down-after-milliseconds (1 s here).
        assert wait_until(lambda: sentinels() == expected, timeout=30, interval=0.5), sentinels()
    finally:
        for index in (1, 2):
            sentinel_set.start_sentinel(index)
    assert wait_until(lambda: sentinels()["failover_possible"] is True, timeout=30, interval=0.5)


def test_a_worker_whose_pubsub_connection_is_killed_answers_again(
    sentinel_set, sentinel_env, sentinel_worker
):
    """A switchover drops every client of the old primary (CLIENT KILL); a quick Redis restart
    does the same. redis-py 6+ then reconnects a pub/sub read by itself and blocks on the new
    socket without a timeout, where nothing is subscribed: the worker's event loop hangs for
    good (control pings, tasks). The transport makes the error reach kombu instead."""
    client = client_for(sentinel_env)
    node = f"sentinel-{os.getpid()}@{socket.gethostname()}"

    def answers() -> bool:
        return any(node in reply for reply in client.control.ping(timeout=1))

    assert wait_until(answers, timeout=60, interval=0.5)
    killed = sentinel_set.primary().client().execute_command("CLIENT KILL TYPE pubsub")
    assert killed >= 1
    assert wait_until(answers, timeout=60, interval=0.5)
    assert client.send_task("app.tasks.health.canary").get(timeout=30)["worker"]
    # Its statistics, broker transport options included, still travel as JSON (`celery
    # inspect stats`, Flower): no client objects in the settings.
    assert node in (client.control.inspect(destination=[node], timeout=5).stats() or {})


def keepalive_of(client: Any) -> tuple[int, int]:
    """SO_KEEPALIVE and TCP_KEEPIDLE of a real connection from a redis-py client's pool."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.connect()
        sock = connection._sock
        return (
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        )
    finally:
        pool.release(connection)


@pytest.mark.parametrize("env_name", ["app_env", "sentinel_env"])
def test_every_redis_socket_has_a_short_tcp_keepalive(env_name, request):
    """A connection whose peer vanished without a reset (host stopped, partition) must fail
    in seconds, not after Linux's 2 h: the result consumer and the fanout only wait on theirs
    (drill HA-4). Broker, result backend and the app's own clients, redis:// and sentinel://."""
    env = request.getfixturevalue(env_name)
    settings = Settings(**{key.lower(): value for key, value in env.items()})
    celery_app = create_celery_app(settings)
    expected = (1, redis_endpoints.KEEPALIVE_OPTIONS[socket.TCP_KEEPIDLE])
    with celery_app.connection_for_write() as connection:
        assert keepalive_of(connection.default_channel.client) == expected, "broker"
    assert keepalive_of(celery_app.backend.client) == expected, "result backend"
    assert keepalive_of(cache_client(settings)) == expected, "cache"
    monitor = redis_endpoints.client(
        settings.redis_monitor_url,
        master=settings.redis_sentinel_master,
        sentinel_kwargs=settings.sentinel_kwargs(),
        timeout=2,
    )
    assert keepalive_of(monitor) == expected, "health"


def test_a_sentinel_that_did_not_answer_is_asked_last_by_every_later_client(
    sentinel_set, monkeypatch
):
    """A Sentinel listed first whose host is gone costs a timeout to the first client that
    asks it; every later client in the process (kombu and Celery make one per connection
    pool) asks the others first. Here it is a loopback port that accepts and never answers."""
    monkeypatch.setattr(redis_endpoints, "UNANSWERED", {})
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        user = "celery"
        first = f"sentinel://{user}:{sentinel_set.passwords[user]}@127.0.0.1:{port}/0"
        url = f"{first};{sentinel_set.url(user)}"
        options = {
            "master_name": MASTER,
            "sentinel_kwargs": {**sentinel_set.sentinel_kwargs(), "socket_timeout": 0.5},
        }
        with Connection(url, transport=OURS, transport_options=options) as connection:
            assert connection.default_channel.client.ping()
        assert ("127.0.0.1", port) in redis_endpoints.UNANSWERED
        later = redis_endpoints.client(
            url, master=MASTER, sentinel_kwargs=sentinel_set.sentinel_kwargs(), timeout=0.5
        )
        assert later.ping()
        with Connection(url, transport=OURS, transport_options=options) as connection:
            assert connection.default_channel.client.ping()
        silent.setblocking(False)
        asked = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                silent.accept()[0].close()
                asked += 1
    assert asked == 1, f"the silent Sentinel was asked {asked} times"
