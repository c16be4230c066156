"""Helpers shared by every Molecule scenario's testinfra tests.

Tests talk to the real services on the lab hosts: redis-cli inside the host, systemd through
systemctl. Passwords come from the controller-side secrets folder the roles generated.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.request
import uuid
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


def wait_until(
    predicate: Callable[[], bool], timeout: float = 60, interval: float = 0.5, attempts: int = 3
) -> bool:
    """Poll until predicate() is true; False once `timeout` seconds have passed and at least
    `attempts` polls were made (a stalled or suspended controller still polls the hosts a few
    times). Never used as an assertion by itself."""
    deadline = time.monotonic() + timeout
    tried = 0
    while time.monotonic() < deadline or tried < attempts:
        if predicate():
            return True
        tried += 1
        time.sleep(interval)
    return False


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
    host: testinfra.host.Host,
    name: str,
    kwargs: dict[str, Any] | None = None,
    timeout: int = 60,
    kwargs_code: str | None = None,
) -> dict[str, Any]:
    """Send a task through the real broker and wait for it; its result, worker and queue.
    `kwargs_code`, a Python expression evaluated on the host, replaces `kwargs` for arguments
    too large for a command line."""
    code = f"""
import json
from app.core.celery import app
r = app.send_task({name!r}, kwargs={kwargs_code or repr(kwargs or {})})
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
    """The host's private address, as its inventory declares it."""
    return str(host.ansible.get_variables()["matchbot_private_address"])


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
def every_host() -> list[testinfra.host.Host]:
    return [other_host(name) for name in (REDIS_HOST, *WORKER_HOSTS, APP_HOST)]


@pytest.fixture(scope="module")
def worker_hosts() -> list[testinfra.host.Host]:
    return [other_host(name) for name in WORKER_HOSTS]


# --- Drills (molecule/default/drills): shared tools and the figures table ---------------------

APP_UNITS_BY_GROUP = {
    "redis": ["redis-server@broker", "redis-server@cache"],
    "workers": ["matchbot-worker-cpu", "matchbot-worker-io"],
    "app": ["matchbot-beat", "matchbot-flower", "matchbot-backend"],
}
WORKER_UNITS = ("matchbot-worker-cpu", "matchbot-worker-io")
FIGURES: list[dict[str, Any]] = []


def record(table: str, **row: Any) -> None:
    """One row of a figures table printed at the end of the session (and kept as JSON)."""
    FIGURES.append({"table": table, **row})
    (ephemeral_dir() / "drill-figures.json").write_text(json.dumps(FIGURES, indent=2))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    tables: dict[str, list[dict[str, Any]]] = {}
    for row in FIGURES:
        tables.setdefault(row["table"], []).append({k: v for k, v in row.items() if k != "table"})
    for title, rows in tables.items():
        columns = list(dict.fromkeys(key for row in rows for key in row))
        widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line("  ".join(c.ljust(widths[c]) for c in columns))
        for row in rows:
            terminalreporter.write_line(
                "  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns)
            )


def units_of(host: testinfra.host.Host) -> list[str]:
    """The units we ship on a host, from its inventory groups."""
    groups = host.ansible.get_variables()["group_names"]
    return [u for group, units in APP_UNITS_BY_GROUP.items() if group in groups for u in units]


def new_batch(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def publish_tally(
    host: testinfra.host.Host,
    batch: str,
    count: int,
    hold_seconds: float = 0.0,
    keep_results: bool = False,
) -> dict[str, float]:
    """Publish `count` tally tasks (queue `default`) from the app host over one connection;
    their number, the publishing time and the wall-clock time publishing ended. With
    `keep_results`, results are stored and the task ids kept on the host for batch_states()."""
    code = f"""
import json, time
from app.core.celery import app
started, ids = time.monotonic(), []
with app.producer_or_acquire() as producer:
    for index in range({count}):
        kwargs = {{"batch": {batch!r}, "index": index, "hold_seconds": {hold_seconds}}}
        ids.append(app.send_task("app.tasks.health.tally", producer=producer, kwargs=kwargs,
                                 ignore_result={not keep_results}).id)
seconds = time.monotonic() - started
if {keep_results}:
    with open("/var/tmp/{batch}.ids", "w") as handle:
        json.dump(ids, handle)
print(json.dumps({{"sent": {count}, "seconds": seconds, "finished_at": time.time()}}))
"""
    return app_python(host, code, timeout=600)


def batch_states(host: testinfra.host.Host, batch: str) -> dict[str, list[int]]:
    """Task indices of a batch published with keep_results, by state."""
    code = f"""
import collections, json
from app.core.celery import app
with open("/var/tmp/{batch}.ids") as handle:
    ids = json.load(handle)
states = collections.defaultdict(list)
for index, task_id in enumerate(ids):
    states[app.AsyncResult(task_id).state].append(index)
print(json.dumps(states))
"""
    return app_python(host, code)


def tally_counts(host: testinfra.host.Host, batch: str) -> dict[int, int]:
    """Executions per task index of a tally batch, read from the cache."""
    code = f"""
import json
from app.tasks.base import cache_client
print(json.dumps(cache_client().hgetall("cache:tally:{batch}")))
"""
    return {int(k): int(v) for k, v in app_python(host, code).items()}


def wait_for_tally(
    host: testinfra.host.Host, batch: str, expected: int, timeout: float
) -> dict[int, int]:
    """Polls until `expected` distinct tasks of the batch ran (or the timeout); the counts."""
    counts: dict[int, int] = {}

    def complete() -> bool:
        counts.clear()
        counts.update(tally_counts(host, batch))
        return len(counts) >= expected

    wait_until(complete, timeout=timeout, interval=2)
    return counts


def systemctl_each(hosts: list[testinfra.host.Host], action: str, units: tuple[str, ...]) -> None:
    for host in hosts:
        result = host.run(f"systemctl {action} {' '.join(units)}")
        assert result.rc == 0, result.stderr


def broker_admin(redis_host: testinfra.host.Host) -> RedisClient:
    return RedisClient(redis_host, BROKER_PORT, "admin", secret("redis-admin"))


def run_site(*args: str, inventory: str | None = None) -> subprocess.CompletedProcess[str]:
    """ansible-playbook site.yml against the scenario's inventory (or another one)."""
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            inventory or os.environ["MOLECULE_INVENTORY_FILE"],
            os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "site.yml"),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )


def changed_per_host(output: str) -> dict[str, int]:
    """Changed tasks per host, from the last PLAY RECAP of an ansible-playbook output."""
    recap = output[output.rfind("PLAY RECAP") :]
    return {host: int(n) for host, n in re.findall(r"^(\S+)\s*:.*?changed=(\d+)", recap, re.M)}


def all_secrets() -> list[str]:
    """Every password the scenario generated: Redis ACL users and the Flower login."""
    names = [f"redis-{user}" for user in ("celery", "flower", "monitor", "app", "admin")]
    return [secret(name) for name in [*names, "flower-admin"]]
