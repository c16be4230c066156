"""After the whole host container restarted: services back, broker data kept, cache empty."""

from __future__ import annotations

import pytest

from labkit.redis_cli import BROKER_PORT, CACHE_PORT
from labkit.waiting import wait_until


@pytest.mark.parametrize(("name", "port"), [("broker", BROKER_PORT), ("cache", CACHE_PORT)])
def test_instance_is_back_and_answers(host, redis_as, name, port):
    assert host.service(f"redis-server@{name}").is_enabled
    assert wait_until(redis_as("monitor", port).answers)
    assert host.service(f"redis-server@{name}").is_running


def test_broker_key_survived_the_host_restart(redis_as, restart_probes):
    value = redis_as("celery").run("GET", restart_probes["broker_key"])
    assert value == restart_probes["broker_value"]


def test_cache_keeps_nothing_across_restarts(redis_as, restart_probes):
    assert redis_as("app", CACHE_PORT).run("EXISTS", restart_probes["cache_key"]) == "0"
