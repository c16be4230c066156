"""Drill 6 — bad inventory input: every invalid variable set makes site.yml fail in its
preflight, before any host changes, with a message naming the problem."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from labkit.ansible import PlaybookRun

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
    ("no time to come back", {"celery_worker_ready_timeout": 0}, "celery_worker_ready_timeout"),
    ("batches of no host", {"matchbot_workers_batch": 0}, "matchbot_workers_batch must be"),
    (
        "more than all hosts may fail",
        {"matchbot_workers_max_fail_percentage": 150},
        "matchbot_workers_max_fail_percentage a whole number",
    ),
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
    (
        "backup of an instance without AOF",
        {"redis_backup_instances": ["cache"]},
        "may only name instances of redis_instances with appendonly on",
    ),
    ("backend port not a number", {"backend_port": "http"}, "backend_port"),
    ("Flower without credentials", {"flower_basic_auth": []}, "has no credentials"),
    (
        "node exporter on every address",
        {"node_exporter_address": "0.0.0.0"},  # noqa: S104 - the bad input itself
        "node_exporter_address must be loopback or a private address",
    ),
    (
        "two Redis exporters on one port",
        {"redis_exporter_ports": {"broker": 9121, "cache": 9121}},
        "to distinct ports",
    ),
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
        "a task API client named with spaces",
        {"backend_api_tokens": {"Reports UI": "a" * 40}},
        "backend_api_tokens: client names must be",
    ),
    (
        "a task API token too short to be a secret",
        {"backend_api_tokens": {"reports-ui": "CHANGE-ME"}},
        "each token 32+ letters and digits",
    ),
    (
        "visibility timeout below the hard limit",
        {"app_deploy_settings": {"BROKER_VISIBILITY_TIMEOUT": 60, "TASK_TIME_LIMIT": 120}},
        "must exceed TASK_TIME_LIMIT",
    ),
]
BAD_BEAT_GROUPS = ["no beat host", "beat on two hosts"]


@pytest.fixture(scope="module")
def outcomes(run_site) -> dict[str, PlaybookRun]:
    """Every bad variable set tried once, four at a time (each run stops in the preflight)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = pool.map(
            lambda extra: run_site("-e", json.dumps(extra)), [v for _, v, _ in BAD_VARIABLES]
        )
        return dict(zip([what for what, _, _ in BAD_VARIABLES], runs, strict=True))


@pytest.mark.parametrize(
    ("what", "extra_vars", "message"), BAD_VARIABLES, ids=[case[0] for case in BAD_VARIABLES]
)
def test_bad_variables_are_refused_before_any_change(outcomes, figures, what, extra_vars, message):
    run = outcomes[what]
    refused, named = run.refused_before_any_change(), run.names(message)
    figures.record("Drill 6 - bad inventory input", input=what, refused=refused, named=named)
    assert refused, run.text[-3000:]
    assert named, run.messages()


@pytest.mark.parametrize("what", BAD_BEAT_GROUPS)
def test_beat_on_zero_or_several_hosts_is_refused(scenario, figures, run_site, what, tmp_path):
    """The scenario's inventory, group_vars and host_vars, with another 'beat' group."""
    beat_hosts = [] if what == "no beat host" else [scenario.app_host, scenario.worker_hosts[0]]
    source = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    inventory = yaml.safe_load(source.read_text())
    inventory["beat"] = {"hosts": dict.fromkeys(beat_hosts)}
    path = tmp_path / "ansible_inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    for folder in ("group_vars", "host_vars"):
        (tmp_path / folder).symlink_to(source.parent / folder)
    run = run_site(inventory=str(path))
    refused, named = run.refused_before_any_change(), run.names("exactly one in 'beat'")
    figures.record("Drill 6 - bad inventory input", input=what, refused=refused, named=named)
    assert refused, run.text[-3000:]
    assert named, run.messages()
