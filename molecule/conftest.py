"""Fixtures of every Molecule scenario's testinfra tests. The tools are in labkit/.

Tests talk to the real services on the lab hosts: redis-cli inside a host, systemd through
systemctl, and the app's own Celery client on the controller with the services' settings.
Passwords come from the controller-side secrets folder the roles generated.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import testinfra

from labkit.ansible import PlaybookRun, run_playbook
from labkit.figures import Figures, write_tables
from labkit.platform import Platform
from labkit.redis_cli import BROKER_PORT, RedisCli
from labkit.scenario import Scenario

FIGURES = Figures(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "drill-figures.json")


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return Scenario(Path(os.environ["MOLECULE_INVENTORY_FILE"]))


@pytest.fixture(scope="session")
def figures() -> Figures:
    """record(table, **row): one row of a table printed at the end of the session."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_tables(terminalreporter, FIGURES)


def testinfra_host(name: str) -> testinfra.host.Host:
    """Another host of the scenario's inventory."""
    return testinfra.get_host(
        f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )


@pytest.fixture(scope="session")
def platform(scenario: Scenario) -> Platform:
    """The app's client on the controller, with the app host's settings and users."""
    return Platform.of(scenario.app_host, scenario.ca_file if scenario.tls else None)


@pytest.fixture(scope="module")
def app_host(scenario: Scenario) -> testinfra.host.Host:
    return testinfra_host(scenario.app_host)


@pytest.fixture(scope="module")
def redis_host(scenario: Scenario) -> testinfra.host.Host:
    return testinfra_host(scenario.redis_host)


@pytest.fixture(scope="module")
def every_host(scenario: Scenario) -> list[testinfra.host.Host]:
    return [testinfra_host(name) for name in scenario.every_host]


@pytest.fixture(scope="module")
def worker_hosts(scenario: Scenario) -> list[testinfra.host.Host]:
    return [testinfra_host(name) for name in scenario.worker_hosts]


@pytest.fixture
def redis_as(host: testinfra.host.Host, scenario: Scenario) -> Callable[..., RedisCli]:
    """redis_as(user, port=BROKER_PORT, password=None): redis-cli on this test's host as that
    ACL user (its generated password unless one is given)."""

    def make(user: str | None, port: int = BROKER_PORT, password: str | None = None) -> RedisCli:
        cli = scenario.redis_cli(host.backend.host, port, user)
        return cli if password is None else replace(cli, password=password)

    return make


@pytest.fixture(scope="session")
def broker_admin(scenario: Scenario) -> RedisCli:
    """redis-cli as the admin user on the Redis host's broker instance."""
    return scenario.redis_cli(scenario.redis_host, BROKER_PORT, "admin")


@pytest.fixture(scope="session")
def restart_probes() -> dict[str, str]:
    """molecule/redis: keys written by tests/ and read again by tests_after_restart/."""
    return {
        "broker_key": "celery-probe:survives-host-restart",
        "broker_value": "written-before-the-host-restart",
        "cache_key": "cache:probe:gone-after-restart",
    }


@pytest.fixture(scope="session")
def run_site() -> Callable[..., PlaybookRun]:
    """run_site(*args, inventory=None, playbook="site.yml"): a playbook of the project (site.yml
    by default) against the scenario's inventory (or another), read through the json callback."""

    def run(*args: str, inventory: str | None = None, playbook: str = "site.yml") -> PlaybookRun:
        path = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / playbook
        return run_playbook(path, inventory or os.environ["MOLECULE_INVENTORY_FILE"], *args)

    return run


@pytest.fixture(scope="session")
def restart_every_host() -> Callable[[], PlaybookRun]:
    """The scenario's own reboot (molecule/shared/restart-hosts.yml): docker restart, systemd
    shuts down cleanly and boots again."""

    def restart() -> PlaybookRun:
        playbook = (
            Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "molecule/shared/restart-hosts.yml"
        )
        run = run_playbook(playbook, os.environ["MOLECULE_INVENTORY_FILE"], timeout=600)
        assert run.returncode == 0, run.text[-3000:]
        return run

    return restart
