"""Invalid role variables fail before any change, with a message naming the problem."""

from __future__ import annotations

import json
import os

import pytest

from labkit.ansible import run_playbook

BROKER = {"name": "broker", "port": 6379, "maxmemory_policy": "noeviction", "appendonly": True}
CACHE = {"name": "cache", "port": 6380, "maxmemory_policy": "allkeys-lru"}

INVALID = {
    "port out of range": (
        {"redis_instances": [{**BROKER, "port": 70000}, CACHE]},
        "port must be between 1 and 65535",
    ),
    "port not a number": ({"redis_instances": [{**BROKER, "port": "six"}, CACHE]}, "port"),
    "unknown eviction policy": (
        {"redis_instances": [{**BROKER, "maxmemory_policy": "sometimes"}, CACHE]},
        "maxmemory_policy must be one of",
    ),
    "unknown fsync policy": (
        {"redis_instances": [{**BROKER, "appendfsync": "maybe"}, CACHE]},
        "appendfsync must be one of",
    ),
    "instance without a name": (
        {"redis_instances": [{"port": 6379}, CACHE]},
        "missing required arguments: name",
    ),
    "duplicate ports": (
        {"redis_instances": [BROKER, {**CACHE, "port": 6379}]},
        "every instance needs its own name and its own port",
    ),
    "bad memory size": (
        {"redis_instances": [{**BROKER, "maxmemory": "lots"}, CACHE]},
        "maxmemory must be a size",
    ),
    "user on an unknown instance": (
        {
            "redis_acl_users": [
                {"name": "monitor", "instances": ["broker", "cache", "queue"], "rules": ["+ping"]}
            ]
        },
        "unknown: queue",
    ),
}

STATE = (
    "sha256sum /etc/redis/* /etc/systemd/system/redis-server@.service.d/*; "
    "systemctl show -p MainPID --value redis-server@broker redis-server@cache"
)


@pytest.mark.parametrize("case", INVALID)
def test_invalid_variables_fail_before_any_change(host, case):
    extra_vars, message = INVALID[case]
    before = host.run(STATE).stdout
    run = run_playbook(
        os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"),
        os.environ["MOLECULE_INVENTORY_FILE"],
        "-e",
        json.dumps(extra_vars),
        timeout=300,
    )
    assert run.returncode != 0, run.text[-3000:]
    assert any(message in text for text in run.messages()), run.messages()
    assert not any(run.changed_per_host().values()), run.changed_per_host()
    assert host.run(STATE).stdout == before
