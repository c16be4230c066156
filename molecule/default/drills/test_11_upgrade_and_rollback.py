"""Drill 11 — an app upgrade and its rollback.
Upgrade: site.yml with a changed app installs a new release next to the running one and restarts
exactly the services that run the app; Redis, which does not, keeps running. With two releases
kept, the previous one stays and an older one is removed.
Rollback: site.yml from this checkout again makes the previous release current without
installing it again, and restarts the same services."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from labkit.hosts import main_pid
from labkit.waiting import wait_until

APP_HOME = "/opt/matchbot"
STALE_RELEASE = f"{APP_HOME}/releases/000000000000-stale"
# What a release is built from (roles/app_deploy/files/build_wheelhouse.py).
RELEASE_SOURCES = ("app", "pyproject.toml", "README.md", "requirements")


def project_with_a_changed_app(destination: Path, marker: str) -> Path:
    """A copy of the project's release sources with one line added to the app: a new release."""
    project = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    for name in RELEASE_SOURCES:
        source = project / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / name)
    with (destination / "app" / "__init__.py").open("a") as handle:
        handle.write(f"# {marker}\n")
    return destination


def current_release(host) -> str:
    return host.file(f"{APP_HOME}/current").linked_to.rsplit("/", 1)[-1]


def unit_pids(scenario) -> dict[tuple[str, str], int]:
    return {
        (host, unit): main_pid(host, unit)
        for host in scenario.every_host
        for unit in scenario.units_of(host)
    }


INSTALL_TASK = "app_deploy : Install the release offline into the virtualenv"


def deploy(scenario, figures, run_site, label: str, *args: str):
    """site.yml with `args`: the (host, unit) pairs whose main process it replaced, and the
    outcomes of the install task."""
    before = unit_pids(scenario)
    run = run_site(*args)
    assert run.returncode == 0, run.text[-3000:]
    after = unit_pids(scenario)
    restarted = {key for key, pid in after.items() if pid != before[key]}
    figures.record(
        "Drill tasks",
        drill=f"11 app {label}",
        sent="",
        completed="",
        lost="",
        duplicated="",
        note=f"{len(restarted)} of {len(after)} units restarted in a {run.seconds:.0f} s run; "
        f"changed per host: {run.changed_per_host()}",
    )
    return restarted, run.outcomes(INSTALL_TASK)


def assert_serving(platform, scenario) -> None:
    expected = scenario.expected_workers()
    assert wait_until(lambda: platform.active_queues() == expected, timeout=120)
    assert platform.run_task("app.tasks.health.canary")["state"] == "SUCCESS"


def test_an_upgrade_and_its_rollback_restart_exactly_the_services_that_run_the_app(
    every_host, platform, scenario, figures, run_site, tmp_path
):
    marker = f"upgrade drill {uuid.uuid4().hex[:8]}"
    project = project_with_a_changed_app(tmp_path / "project", marker)
    app_hosts = [host for host in every_host if host.file(f"{APP_HOME}/current").exists]
    uses_the_app = {key for key in unit_pids(scenario) if not key[1].startswith("redis-server@")}
    previous = {host.backend.host: current_release(host) for host in app_hosts}
    for host in app_hosts:  # an older release the deploy should prune (two are kept)
        assert host.run(f"mkdir -p {STALE_RELEASE} && touch -d 2020-01-01 {STALE_RELEASE}").rc == 0

    restarted, installs = deploy(
        scenario,
        figures,
        run_site,
        "upgrade",
        "-e",
        f"matchbot_project_dir={project}",
        "-e",
        "app_deploy_releases_kept=2",
    )
    assert restarted == uses_the_app, f"restarted: {sorted(restarted)}"
    assert installs.count("changed") == len(app_hosts), installs
    for host in app_hosts:
        name = host.backend.host
        new_release = current_release(host)
        assert new_release != previous[name], name
        assert host.file(f"{APP_HOME}/releases/{previous[name]}/INSTALLED").exists, (
            f"{name}: the previous release is gone (no rollback)"
        )
        assert not host.file(STALE_RELEASE).exists, f"{name}: releases beyond two are kept"
        installed = host.run(
            f"grep -l {marker!r} {APP_HOME}/current/venv/lib/python3*/site-packages/app/__init__.py"
        )
        assert installed.rc == 0, f"{name}: the new release does not carry the changed app"
        for unit in scenario.units_of(name):
            assert new_release in host.file(f"/etc/systemd/system/{unit}.service").content_string
    assert_serving(platform, scenario)

    restarted, installs = deploy(scenario, figures, run_site, "rollback")
    assert restarted == uses_the_app, f"restarted: {sorted(restarted)}"
    assert installs and set(installs) == {"skipped"}, f"installed again: {installs}"
    for host in app_hosts:
        assert current_release(host) == previous[host.backend.host], host.backend.host
    assert_serving(platform, scenario)
