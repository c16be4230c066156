"""Drill 16 — scale out and back in by inventory, under a steady stream of tasks.

First, a release whose workers cannot start, deployed to a new worker host: its groups were
not running, so they start together and are waited for together; `site.yml --limit <it>`
fails naming the host, and no unit of any other host restarts.
Out: a third worker host (a new lab host) added to the inventory and deployed with
`site.yml --limit <it>` consumes its queues and runs tasks; no unit of any other host restarts.
In: `playbooks/retire-workers.yml --limit <it>` drains it (it stops consuming and finishes what
it holds), stops and disables its groups: every task published throughout completes, none
twice, none waiting in `unacked` for the visibility timeout, and two hosts serve again."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from labkit.hosts import sh
from labkit.releases import CANNOT_START_READY_TIMEOUT, project_whose_workers_cannot_start
from labkit.stream import Stream
from labkit.waiting import wait_until

NEW_HOST = "matchbot-molecule-worker-3"
NEW_ADDRESS = "10.213.20.23"  # in the scenario's lab_subnet, next to the other workers
RETIRE = "playbooks/retire-workers.yml"
DRAIN_TASK = "celery_worker : Drain each worker group"
START_TASK = "celery_worker : Run this worker group"
RESTART_WAIT = "celery_worker : Wait until the restarted group serves before the next one restarts"


@pytest.fixture(scope="module")
def added_host(run_site) -> Iterator[Path]:
    """A new lab host, up and empty, and an inventory source that adds it to `workers`
    (used with the scenario's own). It sits next to the scenario's inventory, as an operator
    adds a host to their inventory: hosts read their secrets (passwords, the CA) from their
    inventory's folder. Both removed afterwards."""
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).with_name("scale-out.yml")
    host = {
        "ansible_connection": "community.docker.docker",
        "matchbot_private_address": NEW_ADDRESS,
    }
    groups = {"workers": {"hosts": {NEW_HOST: host}}, "scale_out": {"hosts": {NEW_HOST: {}}}}
    inventory.write_text(yaml.safe_dump({"all": {"children": groups}}))
    labels = json.dumps({"lab_group": "scale_out", "lab_labels": {"owner": "molecule"}})
    try:
        created = run_site("-i", str(inventory), "-e", labels, playbook="playbooks/lab.yml")
        assert created.returncode == 0, created.text[-3000:]
        yield inventory
    finally:  # also when it was only half created
        inventory.unlink()
        subprocess.run(["docker", "rm", "-f", NEW_HOST], check=False, capture_output=True)


def tasks_run_by(platform, node: str) -> int:
    with platform.celery.connection_for_write() as connection:
        stats = platform.celery.control.inspect(
            destination=[node], timeout=5, connection=connection
        ).stats()
    return sum((stats or {}).get(node, {}).get("total", {}).values())


def test_a_new_host_whose_workers_cannot_start_fails_alone(
    added_host, scenario, run_site, tmp_path
):
    before = scenario.main_pids()
    broken = project_whose_workers_cannot_start(
        Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]),
        tmp_path / "project",
        f"scale-out drill {uuid.uuid4().hex[:8]}: cannot start",
    )
    run = run_site(
        "--limit",
        NEW_HOST,
        "-i",
        str(added_host),
        "-e",
        f"matchbot_project_dir={broken}",
        "-e",
        CANNOT_START_READY_TIMEOUT,
    )
    assert run.returncode != 0, "site.yml went on past a new host whose workers do not serve"
    assert run.failed_hosts() == [NEW_HOST], run.failed_hosts()
    assert run.names(f"on {NEW_HOST} did not answer a ping"), run.messages()
    # Every group was started before any wait: none was waited for alone as a restart.
    groups = len(scenario.worker_groups)
    assert run.outcomes(START_TASK) == ["changed"] * groups, run.outcomes(START_TASK)
    assert run.outcomes(RESTART_WAIT) == ["skipped"] * groups, run.outcomes(RESTART_WAIT)
    assert scenario.main_pids() == before, "a host already serving was restarted"


def test_a_worker_host_added_and_retired_by_inventory(
    added_host, platform, scenario, figures, run_site
):
    new_nodes = {
        f"{group['name']}@{NEW_HOST}": set(group["queues"]) for group in scenario.worker_groups
    }
    before = scenario.main_pids()
    stream = Stream(platform, rate=10).start()
    try:
        out = run_site("--limit", NEW_HOST, "-i", str(added_host))
        assert out.returncode == 0, out.text[-3000:]
        assert set(out.changed_per_host()) == {NEW_HOST}, out.changed_per_host()
        assert scenario.main_pids() == before, "a host already serving was restarted"
        both = {**scenario.expected_workers(), **new_nodes}
        assert wait_until(lambda: platform.active_queues() == both, timeout=120)
        cpu_node = next(node for node, queues in new_nodes.items() if "default" in queues)
        assert wait_until(lambda: tasks_run_by(platform, cpu_node) > 0, timeout=60), (
            f"{cpu_node} ran none of the stream's tasks"
        )

        retired = run_site("--limit", NEW_HOST, "-i", str(added_host), playbook=RETIRE)
        assert retired.returncode == 0, retired.text[-3000:]
        assert retired.outcomes(DRAIN_TASK) == ["changed"], retired.outcomes(DRAIN_TASK)
    finally:
        stream.stop()
    done = stream.wait_for_all(timeout=120)  # a task left in `unacked` would wait 2 h
    figures.record(
        "Drill tasks",
        drill="16 scale out to 3 worker hosts and back in",
        sent=len(stream.acknowledged),
        completed=len(done),
        lost=len(stream.acknowledged) - len(done),
        duplicated=stream.duplicates(),
        note=f"site.yml --limit {NEW_HOST}: {out.seconds:.0f} s; retire: {retired.seconds:.0f} s",
    )
    assert len(done) == len(stream.acknowledged) and stream.duplicates() == 0
    for group in scenario.worker_groups:
        unit = f"matchbot-worker-{group['name']}"
        assert sh(NEW_HOST, f"systemctl is-enabled {unit} || true").strip() == "disabled", unit
    assert wait_until(lambda: platform.active_queues() == scenario.expected_workers(), timeout=60)
    assert scenario.main_pids() == before, "a host already serving was restarted"
