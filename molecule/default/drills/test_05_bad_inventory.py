"""Drill 6 — bad inventory input: every invalid variable set makes site.yml fail in its
preflight, before any host changes, with a message naming the problem."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import APP_HOST, WORKER_HOSTS, changed_per_host, record, run_site

CPU = {"name": "cpu", "queues": ["default"]}
BROKER = {"name": "broker", "port": 6379}
# (what is wrong, extra vars, a fragment of the message that must name it)
BAD_VARIABLES = [
    (
        "no worker group",
        {"celery_worker_groups": []},
        "celery_worker_groups needs at least one group",
    ),
    (
        "unknown queue",
        {"celery_worker_groups": [{**CPU, "queues": ["default", "urgent"]}]},
        "unknown: urgent",
    ),
    ("unknown pool", {"celery_worker_groups": [{**CPU, "pool": "gevent"}]}, "pool"),
    ("unknown result detail", {"celery_worker_groups": [{**CPU, "results": "some"}]}, "results"),
    (
        "concurrency not a number",
        {"celery_worker_groups": [{**CPU, "concurrency": "many"}]},
        "concurrency",
    ),
    ("duplicate worker group", {"celery_worker_groups": [CPU, CPU]}, "unique names"),
    (
        "Redis port out of range",
        {"redis_instances": [{**BROKER, "port": 70000}]},
        "port must be between 1 and 65535",
    ),
    (
        "unknown fsync policy",
        {"redis_instances": [{**BROKER, "appendfsync": "sometimes"}]},
        "appendfsync",
    ),
    (
        "unknown eviction policy",
        {"redis_instances": [{**BROKER, "maxmemory_policy": "oldest"}]},
        "maxmemory_policy",
    ),
    ("Redis instance without a name", {"redis_instances": [{"port": 6379}]}, "name"),
    ("backend port not a number", {"backend_port": "http"}, "backend_port"),
    ("Flower without credentials", {"flower_basic_auth": []}, "has no credentials"),
    ("Flower on a public address", {"flower_address": "8.8.8.8"}, "flower_address must be"),
    (
        "setting the role owns",
        {"app_deploy_settings": {"REDIS_URL": "redis://elsewhere"}},
        "not one the role writes itself",
    ),
    (
        "a private address the host does not carry",
        {"matchbot_private_address": "10.213.99.99"},
        "must be an IP address this host carries",
    ),
    ("no release kept", {"app_deploy_releases_kept": 0}, "app_deploy_releases_kept must be"),
    (
        "visibility timeout below the hard limit",
        {"app_deploy_settings": {"BROKER_VISIBILITY_TIMEOUT": 60, "TASK_TIME_LIMIT": 120}},
        "must exceed TASK_TIME_LIMIT",
    ),
]
BAD_BEAT_GROUPS = [("no beat host", []), ("beat on two hosts", [APP_HOST, WORKER_HOSTS[0]])]


def refused_before_any_change(output: str, returncode: int) -> bool:
    changed = changed_per_host(output)
    return (
        returncode != 0
        and "changed: [" not in output
        and bool(changed)
        and not any(changed.values())
    )


def attempt(extra_vars: dict) -> tuple[int, str]:
    run = run_site("-e", json.dumps(extra_vars))
    return run.returncode, run.stdout + run.stderr


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple[int, str]]:
    """Every bad variable set tried once, four at a time (each run stops in the preflight)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(attempt, [extra for _, extra, _ in BAD_VARIABLES])
        return dict(zip([what for what, _, _ in BAD_VARIABLES], results, strict=True))


@pytest.mark.parametrize(
    ("what", "extra_vars", "message"), BAD_VARIABLES, ids=[case[0] for case in BAD_VARIABLES]
)
def test_bad_variables_are_refused_before_any_change(outcomes, what, extra_vars, message):
    returncode, output = outcomes[what]
    refused = refused_before_any_change(output, returncode)
    record("Drill 6 - bad inventory input", input=what, refused=refused, named=message in output)
    assert refused, output[-3000:]
    assert message in output, output[-3000:]


@pytest.mark.parametrize(
    ("what", "beat_hosts"), BAD_BEAT_GROUPS, ids=[c[0] for c in BAD_BEAT_GROUPS]
)
def test_beat_on_zero_or_several_hosts_is_refused(what, beat_hosts, tmp_path):
    """The scenario's inventory and group_vars, with another 'beat' group."""
    source = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    inventory = yaml.safe_load(source.read_text())
    inventory["beat"] = {"hosts": dict.fromkeys(beat_hosts)}
    path = tmp_path / "ansible_inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    (tmp_path / "group_vars").symlink_to(source.parent / "group_vars")
    run = run_site(inventory=str(path))
    output = run.stdout + run.stderr
    refused = refused_before_any_change(output, run.returncode)
    record(
        "Drill 6 - bad inventory input",
        input=what,
        refused=refused,
        named="exactly one in 'beat'" in output,
    )
    assert refused, output[-3000:]
    assert "exactly one in 'beat'" in output
