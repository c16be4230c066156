"""Helpers shared by every Molecule scenario's testinfra tests.

Tests talk to the real services on the lab hosts: redis-cli inside the host, systemd through
systemctl. Passwords come from the controller-side secrets folder the roles generated.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import testinfra

BROKER_PORT = 6379
CACHE_PORT = 6380
# molecule/redis: written by tests/, read again by tests_after_restart/ after the host restart.
HOST_RESTART_KEY = "celery-probe:survives-host-restart"
HOST_RESTART_VALUE = "written-before-the-host-restart"
CACHE_VOLATILE_KEY = "cache:probe:gone-after-restart"


def ephemeral_dir() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def secret(name: str) -> str:
    """A password generated on the controller (first token of the file), in the default
    secrets folder: <inventory folder>/.secrets."""
    return (ephemeral_dir() / "inventory" / ".secrets" / name).read_text().split()[0]


def wait_until(predicate: Callable[[], bool], timeout: float = 60, interval: float = 0.5) -> bool:
    """Poll until predicate() is true; False on timeout. Never used as an assertion by itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@dataclass(frozen=True)
class RedisClient:
    """redis-cli on a lab host, authenticated as one ACL user (password via the environment)."""

    host: testinfra.host.Host
    port: int
    user: str | None
    password: str | None = None

    def command_line(self, *args: str, extra: tuple[str, ...] = ()) -> str:
        cli = ["redis-cli", "--no-auth-warning", "-p", str(self.port), *extra]
        if self.user is not None:
            cli += ["--user", self.user]
        prefix = f"REDISCLI_AUTH={shlex.quote(self.password)} " if self.password else ""
        return prefix + shlex.join([*cli, *args])

    def run(self, *args: str) -> str:
        """Output of one command, errors included as text (redis-cli prints them)."""
        result = self.host.run(self.command_line(*args))
        return (result.stdout + result.stderr).strip()

    def info(self, section: str) -> dict[str, str]:
        fields = {}
        for line in self.run("INFO", section).splitlines():
            key, sep, value = line.strip().partition(":")
            if sep:
                fields[key] = value
        return fields

    def answers(self) -> bool:
        return self.run("PING") == "PONG"

    def fill(self, db: int, prefix: str, megabytes: int) -> str:
        """Write `megabytes` of 100 KiB values into database `db` through one
        `redis-cli --pipe` (the protocol is generated on the host); returns its summary."""
        generator = (
            "import sys\n"
            "def cmd(*p):\n"
            "    return f'*{len(p)}\\r\\n' + ''.join(f'${len(x)}\\r\\n{x}\\r\\n' for x in p)\n"
            f"sys.stdout.write(cmd('SELECT', '{db}'))\n"
            f"for i in range({megabytes * 10}):\n"
            f"    sys.stdout.write(cmd('SET', '{prefix}:' + str(i), 'x' * 102400))\n"
        )
        pipeline = f"python3 -c {shlex.quote(generator)} | {self.command_line(extra=('--pipe',))}"
        result = self.host.run(pipeline)
        return (result.stdout + result.stderr).strip()


@pytest.fixture
def redis_as(host: testinfra.host.Host) -> Callable[..., RedisClient]:
    """redis_as(user, port=BROKER_PORT, password=None): a client for that ACL user."""

    def make(user: str | None, port: int = BROKER_PORT, password: str | None = None) -> RedisClient:
        if password is None and user is not None:
            password = secret(f"redis-{user}")
        return RedisClient(host, port, user, password)

    return make


def main_pid(host: testinfra.host.Host, unit: str) -> int:
    return int(host.run(f"systemctl show -p MainPID --value {shlex.quote(unit)}").stdout.strip())


def restarts(host: testinfra.host.Host, unit: str) -> int:
    return int(host.run(f"systemctl show -p NRestarts --value {shlex.quote(unit)}").stdout.strip())


def other_host(name: str) -> testinfra.host.Host:
    """Another host of the scenario's inventory."""
    return testinfra.get_host(
        f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )


# --- The full stack (molecule/default) -----------------------------------------------------

APP_HOST = "matchbot-molecule-app"
REDIS_HOST = "matchbot-molecule-redis"
WORKER_HOSTS = ("matchbot-molecule-worker-1", "matchbot-molecule-worker-2")
WORKER_GROUP_QUEUES = {
    "cpu": {"default", "file_processing", "reports", "cleanup"},
    "io": {"ai_matching"},
}
EXPECTED_WORKERS = {
    f"{group}@{worker}": queues
    for group, queues in WORKER_GROUP_QUEUES.items()
    for worker in WORKER_HOSTS
}
# The services' own environment (restricted ACL users), without their log folder.
APP_ENV = "set -a; . /etc/matchbot/matchbot.env; set +a; unset LOG_DIR; cd /var/lib/matchbot; "
APP_PYTHON = "/opt/matchbot/current/venv/bin/python"


def app_python(host: testinfra.host.Host, code: str, timeout: int = 180) -> Any:
    """Run Python in the deployed virtualenv with the services' settings; the last line of
    stdout is JSON."""
    result = host.run(f"{APP_ENV} timeout {timeout} {APP_PYTHON} -c {shlex.quote(code)}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_task(
    host: testinfra.host.Host, name: str, kwargs: dict[str, Any] | None = None, timeout: int = 60
) -> dict[str, Any]:
    """Send a task through the real broker and wait for it; its result, worker and queue."""
    code = f"""
import json
from app.core.celery import app
r = app.send_task({name!r}, kwargs={kwargs or {}!r})
value = r.get(timeout={timeout}, propagate=False)
print(json.dumps({{"id": r.id, "state": r.state, "worker": r.worker, "queue": r.queue,
                  "result": value if r.state == "SUCCESS" else repr(value)}}))
"""
    return app_python(host, code, timeout=timeout + 30)


def active_queues(host: testinfra.host.Host) -> dict[str, set[str]]:
    """Celery inspect over the broker with the restricted Celery user: node → queues."""
    code = """
import json
from app.core.celery import app
replies = app.control.inspect(timeout=5).active_queues() or {}
print(json.dumps({node: sorted(q["name"] for q in queues) for node, queues in replies.items()}))
"""
    return {node: set(queues) for node, queues in app_python(host, code).items()}


def address(host: testinfra.host.Host) -> str:
    return host.interface("eth0").addresses[0]


def http_get(url: str, auth: tuple[str, str] | None = None, timeout: float = 30) -> tuple[int, str]:
    """GET from the controller; (status, body) also for error statuses."""
    request = urllib.request.Request(url)  # noqa: S310 - lab addresses only
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def app_host() -> testinfra.host.Host:
    return other_host(APP_HOST)


@pytest.fixture(scope="module")
def redis_host() -> testinfra.host.Host:
    return other_host(REDIS_HOST)


@pytest.fixture(scope="module")
def worker_hosts() -> list[testinfra.host.Host]:
    return [other_host(name) for name in WORKER_HOSTS]
