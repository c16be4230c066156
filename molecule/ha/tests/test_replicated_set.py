"""The replicated broker and cache on three hosts, and every client through the Sentinels."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from labkit import hosts, replication
from labkit.platform import ENV_FILE
from labkit.waiting import wait_until

INSTANCES = replication.INSTANCES


def test_every_redis_host_runs_both_instances_and_a_sentinel(scenario):
    for host in scenario.redis_hosts:
        for unit in ("redis-server@broker", "redis-server@cache", "redis-sentinel"):
            state = hosts.run(host, f"systemctl is-active {unit}; systemctl is-enabled {unit}")
            state = state.stdout.decode()
            assert state.split() == ["active", "enabled"], (host, unit, state)


@pytest.mark.parametrize(("master", "port"), INSTANCES, ids=["broker", "cache"])
def test_one_primary_two_replicas_online_and_a_quorum(scenario, master, port):
    primary = replication.primary_host(scenario, master)
    assert primary is not None, replication.primary_answers(scenario, master)
    assert replication.masters(scenario, port) == [primary]
    assert wait_until(lambda: replication.replicas_online(scenario, primary, port) == 2, 30)
    for host in scenario.redis_hosts:
        reply = replication.sentinel(scenario, host).run("SENTINEL", "CKQUORUM", master)
        assert reply.startswith("OK 3 usable Sentinels"), (host, reply)


def test_sentinels_and_replication_speak_tls_only(scenario):
    """The Sentinels answer over TLS only, and the replicas reach their primary over TLS (the
    primaries have no plaintext port, so a replica linked at all is linked over TLS)."""
    assert scenario.tls
    for host in scenario.redis_hosts:
        sentinel = replication.sentinel(scenario, host)
        assert sentinel.run("PING") == "PONG", host
        in_clear = replace(sentinel, tls=False).run("PING")
        assert "PONG" not in in_clear, (host, in_clear)
        admin = replication.admin(scenario, host)
        assert admin.run("CONFIG", "GET", "port").split() == ["port", "0"], host
        assert admin.run("CONFIG", "GET", "tls-replication").split() == ["tls-replication", "yes"]


def test_an_isolated_primary_would_refuse_writes(scenario):
    """min-replicas-to-write: the broker's primary accepts writes only with a replica in reach."""
    primary = replication.primary_host(scenario)
    setting = replication.admin(scenario, primary).run("CONFIG", "GET", "min-replicas-to-write")
    assert setting.split() == ["min-replicas-to-write", "1"]


def test_every_client_reaches_redis_through_the_sentinels(scenario, app_host, worker_hosts):
    for host in [app_host, *worker_hosts]:
        settings = dict(
            line.split("=", 1)
            for line in host.file(ENV_FILE).content_string.splitlines()
            if "=" in line and not line.startswith("#")
        )
        for name in ("REDIS_URL", "CACHE_URL", "REDIS_MONITOR_URL"):
            urls = settings[name].split(";")
            assert len(urls) == 3 and all(url.startswith("sentinel://") for url in urls), name
        assert settings["REDIS_SENTINEL_USERNAME"] == "sentinel-client"
    flower = app_host.file("/etc/matchbot/flower.env").content_string
    assert "REDIS_URL=sentinel://flower:" in flower


def test_health_names_the_primary_its_replicas_and_the_sentinels(scenario):
    status, body = scenario.health("redis")
    assert status == 200, body
    broker = json.loads(body)["broker"]
    primary = replication.primary_host(scenario)
    assert broker["sentinels"] == {
        "answering": 3,
        "primary": f"{scenario.address(primary)}:6379",
        "failover_possible": True,
    }
    assert sorted(r["state"] for r in broker["replicas"]) == ["online", "online"]
    for secret in scenario.all_secrets():
        assert secret not in body


def test_a_task_completes_through_the_sentinels(platform):
    outcome = platform.run_task(
        "app.tasks.health.arithmetic", {"operation": "sum", "operands": [2]}
    )
    assert outcome["state"] == "SUCCESS", outcome


def test_the_replication_and_sentinel_secrets_are_not_world_readable(host, scenario):
    if host.backend.host not in scenario.redis_hosts:
        pytest.skip("not a Redis host")
    for path in ("/etc/redis/sentinel-matchbot.conf", "/etc/redis/redis-broker-replication.conf"):
        assert host.file(path).mode & 0o007 == 0, path
    processes = host.run("ps -eo args").stdout
    assert not any(secret in processes for secret in scenario.all_secrets())
