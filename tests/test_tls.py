"""The app's clients over TLS: a Redis that listens on TLS only (port 0, as the redis role
configures it with redis_tls) and a Sentinel on TLS watching it. Every client the services
use (broker, result backend, cache, health check), directly and through the Sentinel,
verifies the server against the CA; one that trusts another CA, or has a wrong password, is
refused."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import (
    API_HEADERS,
    MASTER,
    api_clients_file,
    default_user_rule,
    free_port,
    release_results,
    role_acl_users,
    sentinel_conf,
    wait_until,
)
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.core.celery import create_celery_app
from app.core.config import Settings
from app.tasks.base import cache_client
from labkit import certificates

QUEUE = "celery-tls-drill"
USERS = ("celery", "monitor", "app", "admin")


@dataclass
class TlsSet:
    """A TLS-only Redis and a TLS-only Sentinel on loopback, with the role's ACL users."""

    ca: certificates.Authority
    port: int
    sentinel_port: int
    passwords: dict[str, str]
    processes: list[subprocess.Popen[bytes]]

    def url(self, user: str, db: int = 0, password: str | None = None) -> str:
        secret = password or self.passwords[user]
        return f"rediss://{user}:{secret}@127.0.0.1:{self.port}/{db}"

    def sentinel_url(self, user: str) -> str:
        return f"sentinel://{user}:{self.passwords[user]}@127.0.0.1:{self.sentinel_port}/0"

    def env(self, ca_file: Path, workdir: Path, **changes: str) -> dict[str, str]:
        """The services' settings (production) with these servers, trusting `ca_file`."""
        return {
            "ENVIRONMENT": "production",
            "REDIS_URL": self.url("celery"),
            "CACHE_URL": self.url("app", db=1),
            "REDIS_MONITOR_URL": self.url("monitor"),
            "REDIS_TLS_CA_FILE": str(ca_file),
            "DATA_DIR": str(workdir / "tls-data"),
            "API_CLIENTS_FILE": str(api_clients_file(workdir)),
            **changes,
        }

    def through_sentinel(self, ca_file: Path, workdir: Path) -> dict[str, str]:
        return self.env(
            ca_file,
            workdir,
            REDIS_URL=self.sentinel_url("celery"),
            REDIS_MONITOR_URL=self.sentinel_url("monitor"),
            CACHE_URL=self.sentinel_url("app"),
            REDIS_SENTINEL_MASTER=MASTER,
            CACHE_SENTINEL_MASTER=MASTER,
            REDIS_SENTINEL_USERNAME="sentinel-client",
            REDIS_SENTINEL_PASSWORD=self.passwords["sentinel-client"],
        )


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(**{key.lower(): value for key, value in env.items()})


def tls_options(files: certificates.ServerFiles, ca: certificates.Authority) -> list[str]:
    """The TLS directives of the redis role's instance and Sentinel templates."""
    return [
        f"tls-cert-file {files.certificate_file}",
        f"tls-key-file {files.key_file}",
        f"tls-ca-cert-file {ca.certificate_file}",
        "tls-auth-clients no",
        "tls-replication yes",
    ]


@pytest.fixture(scope="module")
def tls_set(workdir: Path) -> Iterator[TlsSet]:
    folder = workdir / f"tls-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    ca = certificates.authority(folder, "lab CA")
    files = certificates.server(ca, folder)
    passwords = {user: secrets.token_hex(16) for user in (*USERS, "sentinel-client")}
    rules = role_acl_users()
    acl = [default_user_rule()]
    acl += [f"user {user} on >{passwords[user]} {' '.join(rules[user])}" for user in USERS]
    (folder / "users.acl").write_text("\n".join(acl) + "\n")
    port, sentinel_port = free_port(), free_port()
    server_conf = [
        "port 0",
        f"tls-port {port}",
        "bind 127.0.0.1",
        f"dir {folder}",
        'save ""',
        f"aclfile {folder / 'users.acl'}",
        *tls_options(files, ca),
    ]
    (folder / "redis.conf").write_text("\n".join(server_conf) + "\n")
    sentinel = sentinel_conf(sentinel_port, port, passwords)
    sentinel += "\n".join(["port 0", f"tls-port {sentinel_port}", *tls_options(files, ca), ""])
    (folder / "sentinel.conf").write_text(sentinel)
    processes = [
        subprocess.Popen(["redis-server", str(folder / "redis.conf")], stdout=subprocess.DEVNULL),
        subprocess.Popen(
            ["redis-sentinel", str(folder / "sentinel.conf")], stdout=subprocess.DEVNULL
        ),
    ]
    tls = TlsSet(ca, port, sentinel_port, passwords, processes)
    admin = redis.Redis(
        port=sentinel_port,
        username="admin",
        password=passwords["admin"],
        ssl=True,
        ssl_ca_certs=str(ca.certificate_file),
        decode_responses=True,
    )

    def sentinel_sees_the_primary() -> bool:
        try:
            state = admin.execute_command("SENTINEL", "MASTER", MASTER)
        except redis.RedisError:
            return False
        return "s_down" not in str(state) and "master" in str(state)

    wait_until(sentinel_sees_the_primary, timeout=30, interval=0.3)
    yield tls
    release_results()
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def other_ca(workdir: Path) -> certificates.Authority:
    folder = workdir / f"other-ca-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return certificates.authority(folder, "another CA")


def round_trip(settings: Settings) -> dict[str, Any]:
    """What each client of the services does once: a message through the broker (our
    transport), a result stored and read, a cache write, the detailed health check."""
    app = create_celery_app(settings)
    done: dict[str, Any] = {}
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        with connection.SimpleQueue(QUEUE) as queue:
            queue.put({"over": "tls"})
            message = queue.get(timeout=10)
            message.ack()
            done["broker"] = message.payload
    task_id = uuid.uuid4().hex
    app.backend.store_result(task_id, {"stored": True}, "SUCCESS")
    done["result"] = app.AsyncResult(task_id).get(timeout=10)
    cache = cache_client(settings)
    try:
        cache.set("cache:tls-drill", "1", ex=60)
        done["cache"] = cache.get("cache:tls-drill")
    finally:
        cache.close()
    response = TestClient(create_app(settings), headers=API_HEADERS).get("/health-check/redis")
    done["health"] = response.status_code
    return done


EXPECTED = {"broker": {"over": "tls"}, "result": {"stored": True}, "cache": "1", "health": 200}


def test_every_client_reaches_a_tls_only_redis_and_verifies_it(tls_set, workdir):
    settings = settings_of(tls_set.env(tls_set.ca.certificate_file, workdir))
    assert round_trip(settings) == EXPECTED


def test_every_client_reaches_the_primary_through_a_tls_only_sentinel(tls_set, workdir):
    settings = settings_of(tls_set.through_sentinel(tls_set.ca.certificate_file, workdir))
    assert round_trip(settings) == EXPECTED
    health = TestClient(create_app(settings), headers=API_HEADERS).get("/health-check/redis")
    assert health.json()["broker"]["sentinels"]["answering"] == 1


@pytest.mark.parametrize("through", ["server", "sentinel"])
def test_a_client_that_trusts_another_ca_is_refused(tls_set, other_ca, workdir, through):
    env = (
        tls_set.env(other_ca.certificate_file, workdir)
        if through == "server"
        else tls_set.through_sentinel(other_ca.certificate_file, workdir)
    )
    cache = cache_client(settings_of(env))
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        cache.ping()
    app = create_celery_app(settings_of(env))
    with app.connection_for_write() as connection, pytest.raises(Exception) as refused:
        connection.ensure_connection(max_retries=1, timeout=5)
    assert "certificate verify failed" in str(refused.value), refused.value


def test_a_client_over_tls_with_a_wrong_password_is_refused(tls_set, workdir):
    env = tls_set.env(
        tls_set.ca.certificate_file, workdir, CACHE_URL=tls_set.url("app", 1, "not-the-password")
    )
    cache = cache_client(settings_of(env))
    with pytest.raises(redis.AuthenticationError):
        cache.ping()


def test_tasks_share_one_cache_client_per_process(tls_set, workdir):
    """A client per task cost two TLS handshakes and a Sentinel query each (70 ms against
    2 ms): tasks of one process reuse one client and its connections."""
    settings = settings_of(tls_set.env(tls_set.ca.certificate_file, workdir))
    admin = redis.Redis(
        port=tls_set.port,
        username="admin",
        password=tls_set.passwords["admin"],
        ssl=True,
        ssl_ca_certs=str(tls_set.ca.certificate_file),
    )
    before = int(admin.info("stats")["total_connections_received"])
    for _ in range(20):
        cache_client(settings).hincrby("cache:tls-reuse", "runs", 1)
    opened = int(admin.info("stats")["total_connections_received"]) - before
    assert opened <= 1, opened
