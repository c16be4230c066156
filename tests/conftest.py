"""Real Redis servers and a real Celery worker for the app's tests.

The session starts two redis-server processes on free ports (broker with AOF + noeviction,
cache with LRU), each with an ACL file built from the redis role's own user rules, so every
test also proves those rules let Celery work. Then one worker serves all five queues.
"""

from __future__ import annotations

import gc
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from labkit.figures import Figures, write_tables
from labkit.waiting import poll

ROOT = Path(__file__).resolve().parent.parent
ROLE_DEFAULTS = ROOT / "roles" / "redis" / "defaults" / "main.yml"
# Shrunk limits so that time-limit and retry behaviour shows within seconds.
WORKER_LIMITS = {
    "TASK_SOFT_TIME_LIMIT": "3",
    "TASK_TIME_LIMIT": "6",
    "BROKER_VISIBILITY_TIMEOUT": "60",
    "TASK_MAX_RETRIES": "3",
    "TASK_RETRY_BACKOFF_SECONDS": "1",
    "TASK_RETRY_BACKOFF_MAX_SECONDS": "2",
    "CELERY_HEALTH_TIMEOUT_SECONDS": "10",
    "BROKER_CONSUMER_LIVENESS_SECONDS": "1",
}


def worker_command(node: str, queues: str, pool: str, concurrency: int, *extra: str) -> list[str]:
    """A real Celery worker of the app, as `matchbot worker` runs it on the hosts."""
    command = [sys.executable, "-m", "app.main", "worker", "-Q", queues, "-P", pool]
    return [*command, "-c", str(concurrency), "-n", node, *extra]


def wait_until(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.1) -> Any:
    """Poll until predicate() returns something truthy; returns it, or fails the test."""
    value = poll(predicate, timeout=timeout, interval=interval)
    if not value:
        pytest.fail(f"condition not met within {timeout}s")
    return value


def release_results() -> None:
    """Collect the tests' garbage while their servers still run. A Celery result object
    unsubscribes from its server when it is collected (AsyncResult.__del__): collected after
    the server stopped, it retries for 20 s in whichever later test the collector ran, and
    stalled test_worker's retry test past its 60 s wait once (CI)."""
    gc.collect()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_user_rule() -> str:
    """The `default` user line of the redis role's ACL template."""
    template = ROLE_DEFAULTS.parent.parent / "templates/etc/redis/users-instance.acl.j2"
    lines = template.read_text().splitlines()
    return next(line for line in lines if line.startswith("user default"))


def celery_acl_rules(defaults: dict[str, Any]) -> list[str]:
    """The Celery user's rule as site.yml writes it: the app's keys and channels
    (app.core.manifest), the redis role's commands."""
    from app.core.manifest import manifest

    app = manifest()
    return [
        "resetkeys",
        *(f"~{pattern}" for pattern in app["broker_key_patterns"]),
        "resetchannels",
        *(f"&{channel}" for channel in app["broker_channels"]),
        *defaults["redis_celery_commands"],
    ]


def role_acl_users() -> dict[str, list[str]]:
    """ACL rules per user, as the redis role writes them."""
    defaults = yaml.safe_load(ROLE_DEFAULTS.read_text())
    users = {}
    for user in defaults["redis_acl_users"]:
        rules = user["rules"]
        if isinstance(rules, list):
            users[user["name"]] = rules
        elif "redis_celery_acl_rules" in rules:
            users[user["name"]] = celery_acl_rules(defaults)
        # Others (the exporter's) are derived by the role from the inventory: not needed here.
    return users


@dataclass
class RedisServer:
    name: str
    port: int
    passwords: dict[str, str]
    process: subprocess.Popen[bytes]

    def url(self, user: str, db: int = 0) -> str:
        return f"redis://{user}:{self.passwords[user]}@127.0.0.1:{self.port}/{db}"

    def client(self, user: str = "admin") -> redis.Redis:
        return redis.Redis.from_url(self.url(user), decode_responses=True)


def start_redis(
    name: str,
    workdir: Path,
    users: dict[str, list[str]] | None,
    options: list[str],
    passwords: dict[str, str] | None = None,
) -> RedisServer:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/test installs Debian's package)")
    workdir.mkdir(parents=True)
    port = free_port()
    passwords = passwords or {user: secrets.token_hex(16) for user in users or {}}
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    if users is not None:
        acl = workdir / "users.acl"
        lines = [default_user_rule()]
        lines += [f"user {u} on >{passwords[u]} {' '.join(r)}" for u, r in users.items()]
        acl.write_text("\n".join(lines) + "\n")
        args += ["--aclfile", str(acl)]
    process = subprocess.Popen([*args, *options], stdout=subprocess.DEVNULL)
    server = RedisServer(name, port, passwords, process)
    probe = redis.Redis(port=port, socket_connect_timeout=0.2)

    def answers() -> bool:
        try:
            probe.ping()
        except redis.exceptions.AuthenticationError:
            return True  # up, and refusing anonymous access as it should
        except redis.exceptions.RedisError:
            return False
        return True

    wait_until(answers, timeout=15)
    return server


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matchbot")


@pytest.fixture(scope="session")
def broker(workdir: Path) -> Iterator[RedisServer]:
    users = {
        u: r for u, r in role_acl_users().items() if u in ("celery", "flower", "monitor", "admin")
    }
    server = start_redis(
        "broker",
        workdir / "broker",
        users,
        [
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
        ],
    )
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def cache(workdir: Path) -> Iterator[RedisServer]:
    users = {u: r for u, r in role_acl_users().items() if u in ("app", "monitor", "admin")}
    server = start_redis(
        "cache",
        workdir / "cache",
        users,
        ["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--save", ""],
    )
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


# The task API's client in these tests (not a secret: these servers live for one run).
API_TOKEN = "tests0123456789abcdefghijklmnopqrstuvwxyz"
API_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


def api_clients_file(workdir: Path) -> Path:
    """The clients file the backend role writes, listing the tests' client."""
    from app.api import auth

    path = workdir / "api-clients"
    path.write_text(f"tests {auth.digest(API_TOKEN)}\n")
    return path


@pytest.fixture(scope="session")
def app_env(broker: RedisServer, cache: RedisServer, workdir: Path) -> dict[str, str]:
    """The environment the deployed services get (production mode, ACL users)."""
    return {
        "API_CLIENTS_FILE": str(api_clients_file(workdir)),
        "ENVIRONMENT": "production",
        # Plaintext on loopback, deliberately (TLS has its own tests: test_tls.py).
        "REDIS_ALLOW_PLAINTEXT": "true",
        "REDIS_URL": broker.url("celery"),
        "CACHE_URL": cache.url("app"),
        "REDIS_MONITOR_URL": broker.url("monitor"),
        "DATA_DIR": str(workdir / "data"),
        "LOG_DIR": str(workdir / "log"),
        "SERVICE_NAME": "worker",
        **WORKER_LIMITS,
    }


@pytest.fixture(scope="session")
def settings(app_env: dict[str, str]) -> Any:
    from app.core.config import Settings

    return Settings(**{key.lower(): value for key, value in app_env.items()})


@pytest.fixture(scope="session")
def worker(app_env: dict[str, str], settings: Any, workdir: Path) -> Iterator[str]:
    """One real prefork worker on every queue; yields its node name."""
    from app.core.queues import ALL_QUEUES

    node = f"pytest-{os.getpid()}@{socket.gethostname()}"
    log = (workdir / "worker.out").open("wb")
    process = subprocess.Popen(
        worker_command(node, ",".join(ALL_QUEUES), "prefork", 2, "--loglevel", "INFO"),
        cwd=ROOT,
        env={**os.environ, **app_env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = celery_client_for(settings)

    def registered() -> bool:
        if process.poll() is not None:
            pytest.fail(f"worker exited; see {workdir / 'worker.out'}")
        return any(node in reply for reply in client.control.ping(timeout=0.5))

    wait_until(registered, timeout=60)
    yield node
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    log.close()


def celery_client_for(settings: Any) -> Any:
    from app.core.celery import create_celery_app

    return create_celery_app(settings)


@pytest.fixture(scope="session")
def celery_client(settings: Any) -> Any:
    return celery_client_for(settings)


@pytest.fixture(scope="session")
def data_dir(settings: Any) -> Path:
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    return Path(settings.data_dir)


FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    """record(table, **row): a row of a table printed at the end of the session."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_tables(terminalreporter, FIGURES)


# --- A replicated broker watched by three Sentinels (high availability) ------------------------

MASTER = "matchbot-broker"


@dataclass
class SentinelSet:
    """A primary, a replica and three Sentinels on loopback, with the redis role's users."""

    servers: list[RedisServer]
    sentinel_ports: list[int]
    sentinels: list[subprocess.Popen[bytes]]
    passwords: dict[str, str]
    folder: Path

    def start_sentinel(self, index: int) -> None:
        """(Re)start Sentinel `index` on its own configuration file."""
        conf = self.folder / f"sentinel-{self.sentinel_ports[index]}.conf"
        self.sentinels[index] = subprocess.Popen(
            ["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL
        )

    def stop_sentinel(self, index: int) -> None:
        self.sentinels[index].terminate()
        self.sentinels[index].wait(timeout=10)

    def url(self, user: str) -> str:
        """The app's form: one sentinel:// URL per Sentinel, the primary's user in each."""
        password = self.passwords[user]
        return ";".join(
            f"sentinel://{user}:{password}@127.0.0.1:{port}/0" for port in self.sentinel_ports
        )

    def sentinel_kwargs(self) -> dict[str, str]:
        return {"username": "sentinel-client", "password": self.passwords["sentinel-client"]}

    def sentinel(self, index: int = 0, user: str = "admin") -> redis.Redis:
        return redis.Redis(
            port=self.sentinel_ports[index],
            username=user,
            password=self.passwords[user],
            decode_responses=True,
        )

    def primary(self) -> RedisServer:
        _host, port = self.sentinel().execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", MASTER)
        return next(server for server in self.servers if server.port == int(port))

    def replicas_online(self) -> int:
        info = self.primary().client().info("replication")
        return sum(
            1
            for key, value in info.items()
            if key.startswith("slave")
            and isinstance(value, dict)
            and value.get("state") == "online"
        )


def sentinel_client_rules() -> list[str]:
    """What the app may ask of a Sentinel (where the primary is, whether a failover is
    possible): the redis role's `sentinel-client` user. The Sentinels of the loopback set
    authenticate to Redis and to each other as `admin`."""
    defaults = yaml.safe_load(ROLE_DEFAULTS.read_text())
    users = {user["name"]: user["rules"] for user in defaults["redis_sentinel_acl_users"]}
    return [str(rule) for rule in users["sentinel-client"]]


def sentinel_conf(port: int, primary: int, passwords: dict[str, str]) -> str:
    return "\n".join(
        [
            f"port {port}",
            "bind 127.0.0.1",
            "sentinel announce-ip 127.0.0.1",
            "user default off",
            f"user admin on >{passwords['admin']} allchannels +@all",
            f"user sentinel-client on >{passwords['sentinel-client']} "
            + " ".join(sentinel_client_rules()),
            "sentinel sentinel-user admin",
            f"sentinel sentinel-pass {passwords['admin']}",
            f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2",
            f"sentinel auth-user {MASTER} admin",
            f"sentinel auth-pass {MASTER} {passwords['admin']}",
            f"sentinel down-after-milliseconds {MASTER} 1000",
            f"sentinel failover-timeout {MASTER} 10000",
            "",
        ]
    )


@pytest.fixture(scope="module")
def sentinel_set(workdir: Path) -> Iterator[SentinelSet]:
    if shutil.which("redis-sentinel") is None:
        pytest.fail("redis-sentinel is not installed (scripts/test installs Debian's package)")
    users = {
        user: rules
        for user, rules in role_acl_users().items()
        if user in ("celery", "flower", "monitor", "admin")
    }
    names = [*users, "sentinel-client"]
    passwords = {user: secrets.token_hex(16) for user in names}
    base = workdir / f"sentinel-set-{time.monotonic_ns()}"
    common = [
        "--appendonly",
        "yes",
        "--save",
        "",
        "--replica-announce-ip",
        "127.0.0.1",
        "--masteruser",
        "admin",
        "--masterauth",
        passwords["admin"],
    ]
    primary = start_redis("primary", base / "primary", users, common, passwords)
    replica = start_redis(
        "replica",
        base / "replica",
        users,
        [*common, "--replicaof", "127.0.0.1", str(primary.port)],
        passwords,
    )
    ports = [free_port() for _ in range(3)]
    sentinels = SentinelSet([primary, replica], ports, [], passwords, base)
    for index, port in enumerate(ports):
        (base / f"sentinel-{port}.conf").write_text(sentinel_conf(port, primary.port, passwords))
        sentinels.sentinels.append(subprocess.Popen(["true"]))
        sentinels.start_sentinel(index)

    def ready() -> bool:
        try:
            quorum = sentinels.sentinel(0).execute_command("SENTINEL", "CKQUORUM", MASTER)
            return str(quorum).startswith("OK 3") and sentinels.replicas_online() == 1
        except redis.RedisError:
            return False

    wait_until(ready, timeout=30, interval=0.3)
    yield sentinels
    release_results()
    for process in [*sentinels.sentinels, primary.process, replica.process]:
        process.terminate()
        process.wait(timeout=10)
