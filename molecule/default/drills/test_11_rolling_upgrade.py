"""Drill 11 — rolling upgrade, a release that cannot start, and the rollback, each under a
steady stream of tasks and of HTTP requests (GET /health-check/celery, POST /tasks/arithmetic).

1. Upgrade: site.yml with a changed app installs a new release next to the running one and
   restarts exactly the services that run the app (Redis keeps running); the worker hosts go
   one at a time, each drained first, so some worker serves throughout: no task lost, failed
   or run twice, no request refused or failed, and no gap in task completions longer than
   MAX_GAP_SECONDS (a worker's restart takes longer). The backend restarts behind its socket;
   beat restarts and goes on from its schedule state (nothing reset, nothing run twice).
2. A release whose workers cannot start: the first batch fails its readiness check and the
   rollout stops there (site.yml fails, naming the host); the other worker host and the app
   host keep the release they ran, and the platform keeps serving: nothing lost or refused.
3. Rollback: site.yml from this checkout makes the first release current again on every host
   without installing it again, under the same traffic.
The tests run in order: each starts from the state the previous one left."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labkit.hosts import sh
from labkit.releases import (
    CANNOT_START_READY_TIMEOUT,
    project_whose_workers_cannot_start,
    project_with_a_changed_app,
)
from labkit.stream import Stream
from labkit.traffic import Traffic, longest_gap
from labkit.waiting import wait_until

APP_HOME = "/opt/matchbot"
STALE_RELEASE = f"{APP_HOME}/releases/000000000000-stale"
INSTALL_TASK = "app_deploy : Install the release offline into the virtualenv"
DRAIN_TASK = "celery_worker : Drain this worker group's node before its restart"
# Longer than a gap between completions while one host serves alone, shorter than a worker's
# restart (stop, start, register): restarting every worker at once leaves a longer one.
MAX_GAP_SECONDS = 2.0
# State handed from one test to the next (they run in order).
STATE: dict[str, Any] = {}


def project() -> Path:
    return Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])


def current_release(host) -> str:
    return host.file(f"{APP_HOME}/current").linked_to.rsplit("/", 1)[-1]


def unit_release(host, unit: str) -> str:
    """The release a unit runs: the one its unit file names."""
    content = host.file(f"/etc/systemd/system/{unit}.service").content_string
    return content.split("# Release ", 1)[1].split(";", 1)[0]


def beat_schedule(scenario) -> dict[str, dict[str, Any]]:
    """Each periodic task's last run and run count, as beat's schedule file holds them."""
    ops = f"{APP_HOME}/current/venv/bin/python -m app.ops --env-file /etc/matchbot/matchbot.env"
    return dict(json.loads(sh(scenario.hosts("beat")[0], f"{ops} schedule")))


def assert_schedule_went_on(before: dict[str, dict[str, Any]], after) -> None:
    """Beat restarted from its state: an entry that did not run since keeps its last run (a
    schedule started over would date it at the restart), and none ran more than once."""
    assert set(after) == set(before), (before, after)
    for name, entry in after.items():
        runs = entry["total_run_count"] - before[name]["total_run_count"]
        assert runs in (0, 1), (name, before[name], entry)
        if runs == 0:
            assert entry["last_run_at"] == before[name]["last_run_at"], (name, before[name], entry)


@dataclass
class Deploy:
    run: Any
    restarted: set[tuple[str, str]]
    lost: int
    duplicated: int
    gap: float
    errors: list[tuple[str, int, str]]


def deploy_under_traffic(platform, scenario, figures, run_site, label: str, *args: str) -> Deploy:
    """site.yml with `args` while tasks are published and HTTP requests sent; what it did to
    the units, and what the traffic saw."""
    before = scenario.main_pids()
    stream, traffic = Stream(platform, rate=20).start(), Traffic(scenario).start()
    started = time.time()
    run = run_site(*args)
    ended = time.time()
    stream.stop()
    traffic.stop()
    after = scenario.main_pids()
    done = stream.wait_for_all(timeout=300)
    ids = [stream.acknowledged[index] for index in sorted(stream.acknowledged)]
    gap = longest_gap(platform.completion_times(ids, timeout=60), started, ended)
    deploy = Deploy(
        run=run,
        restarted={key for key, pid in after.items() if pid != before[key]},
        lost=len(stream.acknowledged) - len(done),
        duplicated=stream.duplicates(),
        gap=gap,
        errors=traffic.errors(),
    )
    figures.record(
        "Drill tasks",
        drill=f"11 {label}",
        sent=len(stream.acknowledged),
        completed=len(done),
        lost=deploy.lost,
        duplicated=deploy.duplicated,
        note=f"longest gap in completions {gap:.2f} s; {len(deploy.restarted)} units restarted "
        f"in a {run.seconds:.0f} s run; HTTP {dict(traffic.counts())}",
    )
    return deploy


def assert_traffic_unharmed(deploy: Deploy) -> None:
    assert deploy.lost == 0 and deploy.duplicated == 0, deploy
    assert deploy.errors == [], deploy.errors[:5]


def assert_serving(platform, scenario) -> None:
    expected = scenario.expected_workers()
    assert wait_until(lambda: platform.active_queues() == expected, timeout=120)
    assert platform.run_task("app.tasks.health.canary")["state"] == "SUCCESS"


@pytest.fixture(scope="module")
def app_hosts(every_host):
    return [host for host in every_host if host.file(f"{APP_HOME}/current").exists]


def test_a_rolling_upgrade_loses_nothing_and_refuses_nothing(
    app_hosts, platform, scenario, figures, run_site, tmp_path
):
    marker = f"upgrade drill {uuid.uuid4().hex[:8]}"
    changed = project_with_a_changed_app(project(), tmp_path / "project", marker)
    uses_the_app = {key for key in scenario.main_pids() if not key[1].startswith("redis-server@")}
    STATE["first"] = {host.backend.host: current_release(host) for host in app_hosts}
    for host in app_hosts:  # an older release the deploy should prune (two are kept)
        assert host.run(f"mkdir -p {STALE_RELEASE} && touch -d 2020-01-01 {STALE_RELEASE}").rc == 0
    schedule = beat_schedule(scenario)

    deploy = deploy_under_traffic(
        platform,
        scenario,
        figures,
        run_site,
        "rolling upgrade",
        "-e",
        f"matchbot_project_dir={changed}",
        "-e",
        "app_deploy_releases_kept=2",
    )
    assert deploy.run.returncode == 0, deploy.run.text[-3000:]
    assert deploy.restarted == uses_the_app, f"restarted: {sorted(deploy.restarted)}"
    installs = deploy.run.outcomes(INSTALL_TASK)
    assert installs.count("changed") == len(app_hosts), installs
    drains = deploy.run.outcomes(DRAIN_TASK)
    assert drains.count("changed") == len(scenario.expected_workers()), drains
    for host in app_hosts:
        name = host.backend.host
        new_release = current_release(host)
        assert new_release != STATE["first"][name], name
        assert host.file(f"{APP_HOME}/releases/{STATE['first'][name]}/INSTALLED").exists, (
            f"{name}: the previous release is gone (no rollback)"
        )
        assert not host.file(STALE_RELEASE).exists, f"{name}: releases beyond two are kept"
        installed = host.run(
            f"grep -l {marker!r} {APP_HOME}/current/venv/lib/python3*/site-packages/app/__init__.py"
        )
        assert installed.rc == 0, f"{name}: the new release does not carry the changed app"
        for unit in scenario.units_of(name):
            assert unit_release(host, unit) == new_release, (name, unit)
    STATE["upgraded"] = {host.backend.host: current_release(host) for host in app_hosts}
    assert_schedule_went_on(schedule, beat_schedule(scenario))
    assert_traffic_unharmed(deploy)
    assert deploy.gap < MAX_GAP_SECONDS, f"no task completed for {deploy.gap:.2f} s"
    assert_serving(platform, scenario)


def test_a_release_that_cannot_start_stops_the_rollout_after_its_batch(
    app_hosts, platform, scenario, figures, run_site, tmp_path
):
    assert "upgraded" in STATE, "needs the rolling upgrade before it"
    first_worker = scenario.worker_hosts[0]
    broken = project_whose_workers_cannot_start(
        project(), tmp_path / "project", f"release drill {uuid.uuid4().hex[:8]}: cannot start"
    )
    deploy = deploy_under_traffic(
        platform,
        scenario,
        figures,
        run_site,
        "release that cannot start",
        "-e",
        f"matchbot_project_dir={broken}",
        "-e",
        CANNOT_START_READY_TIMEOUT,
    )
    assert deploy.run.returncode != 0, "site.yml went on past a batch that does not serve"
    assert deploy.run.failed_hosts() == [first_worker], deploy.run.failed_hosts()
    assert deploy.run.names(f"on {first_worker} did not answer a ping"), deploy.run.messages()
    # Only the first batch was touched: its first group (the one that cannot start).
    assert {host for host, _ in deploy.restarted} == {first_worker}, deploy.restarted
    for host in app_hosts:
        name = host.backend.host
        if name == first_worker:
            continue
        for unit in scenario.units_of(name):
            assert unit_release(host, unit) == STATE["upgraded"][name], (name, unit)
    assert_traffic_unharmed(deploy)


def test_rolling_back_restores_the_first_release_everywhere(
    app_hosts, platform, scenario, figures, run_site
):
    assert "first" in STATE, "needs the rolling upgrade before it"
    uses_the_app = {key for key in scenario.main_pids() if not key[1].startswith("redis-server@")}
    deploy = deploy_under_traffic(platform, scenario, figures, run_site, "rollback")
    assert deploy.run.returncode == 0, deploy.run.text[-3000:]
    assert deploy.restarted == uses_the_app, f"restarted: {sorted(deploy.restarted)}"
    installs = deploy.run.outcomes(INSTALL_TASK)
    assert installs and set(installs) == {"skipped"}, f"installed again: {installs}"
    for host in app_hosts:
        assert current_release(host) == STATE["first"][host.backend.host], host.backend.host
    assert_traffic_unharmed(deploy)
    assert_serving(platform, scenario)
