"""Drill 8 — access: no one let in. Redis refuses anonymous and wrong-password clients and
holds each ACL user to its keys and commands; Flower refuses anonymous API calls; the web
services answer HTTPS only (plain HTTP redirected, another CA refused); every service listens
only where configured and runs as a non-root user."""

from __future__ import annotations

import http.client

import pytest
import redis

from labkit import certificates
from labkit.hosts import main_pid
from labkit.http import Client
from labkit.redis_cli import BROKER_PORT, CACHE_PORT

# (what is tried, user, password or its secret's name, port, command) → the redis-py error.
REFUSED = [
    ("anonymous client", None, None, BROKER_PORT, ["PING"], "AuthenticationError"),
    ("wrong password", "celery", "not-the-password", BROKER_PORT, ["PING"], "AuthenticationError"),
    ("celery: FLUSHALL", "celery", "redis-celery", BROKER_PORT, ["FLUSHALL"], "NoPermissionError"),
    (
        "celery: CONFIG GET",
        "celery",
        "redis-celery",
        BROKER_PORT,
        ["CONFIG", "GET", "*"],
        "NoPermissionError",
    ),
    (
        "celery: reads the cache",
        "celery",
        "redis-celery",
        CACHE_PORT,
        ["GET", "cache:x"],
        "AuthenticationError",
    ),
    (
        "celery: key outside its patterns",
        "celery",
        "redis-celery",
        BROKER_PORT,
        ["GET", "x"],
        "NoPermissionError",
    ),
    ("app: FLUSHDB on the cache", "app", "redis-app", CACHE_PORT, ["FLUSHDB"], "NoPermissionError"),
    (
        "app: key outside cache:*",
        "app",
        "redis-app",
        CACHE_PORT,
        ["GET", "other"],
        "NoPermissionError",
    ),
    (
        "monitor: reads a key",
        "monitor",
        "redis-monitor",
        BROKER_PORT,
        ["GET", "default"],
        "NoPermissionError",
    ),
    ("flower: FLUSHALL", "flower", "redis-flower", BROKER_PORT, ["FLUSHALL"], "NoPermissionError"),
    ("flower: SHUTDOWN", "flower", "redis-flower", BROKER_PORT, ["SHUTDOWN"], "NoPermissionError"),
]


def redis_reply(scenario, user, password, port, command) -> str:
    """One command from the controller over the lab network (a real remote client): the
    reply, or the error as `<redis-py error class>: <message>`."""
    tls = {"ssl": True, "ssl_ca_certs": str(scenario.ca_file)} if scenario.tls else {}
    client = redis.Redis(
        host=scenario.address(scenario.redis_host),
        port=port,
        username=user,
        password=password,
        socket_timeout=5,
        **tls,
    )
    try:
        return str(client.execute_command(*command))
    except redis.RedisError as error:
        return f"{type(error).__name__}: {error}"
    finally:
        client.close()


@pytest.mark.parametrize(("what", "user", "password", "port", "command", "error"), REFUSED)
def test_redis_refuses(scenario, figures, what, user, password, port, command, error):
    if password and password.startswith("redis-"):
        password = scenario.secret(password)
    reply = redis_reply(scenario, user, password, port, command)
    figures.record("Drill 8 - access refused", attempt=what, reply=reply[:60])
    assert reply.startswith(f"{error}:"), reply


def test_redis_users_still_do_their_work(scenario):
    celery, app = scenario.secret("redis-celery"), scenario.secret("redis-app")
    assert redis_reply(scenario, "celery", celery, BROKER_PORT, ["PING"]) == "True"
    assert redis_reply(scenario, "app", app, CACHE_PORT, ["PING"]) == "True"


def test_flower_api_refuses_anonymous_callers(scenario, figures):
    for path in ("/", "/tasks", "/broker", "/api/workers", "/api/tasks"):
        status, _ = scenario.http.get(scenario.flower_url(path))
        figures.record(
            "Drill 8 - access refused", attempt=f"Flower {path} without credentials", reply=status
        )
        assert status == 401, path


def expected_sockets(scenario, name: str) -> set[str]:
    groups = scenario.groups_of(name)
    own = scenario.address(name)
    expected: set[str] = set()
    if "redis" in groups:
        expected |= {
            f"{ip}:{port}" for ip in ("127.0.0.1", own) for port in (BROKER_PORT, CACHE_PORT)
        }
    # With TLS, nginx answers on the host's address and the service itself on loopback only.
    web = ("127.0.0.1", own) if scenario.tls else (own,)
    # The exporters: a node exporter on every host, one per Redis instance, on the host's
    # private address only (the monitoring role's README).
    expected.add(f"{own}:9100")
    if "redis" in groups:
        expected |= {f"{own}:{port}" for port in (9121, 9122)}
    if "backend" in groups:
        expected |= {f"{ip}:8000" for ip in web}
    if "flower" in groups:
        expected |= {f"{ip}:5555" for ip in web}
    return expected


def test_every_service_listens_only_where_configured(host, scenario):
    lines = host.run("ss -Hltn").stdout.splitlines()
    sockets = {line.split()[3] for line in lines if line.strip()}
    sockets = {s for s in sockets if not s.startswith("127.0.0.11:")}  # Docker's own DNS
    assert sockets == expected_sockets(scenario, host.backend.host)


def test_every_process_runs_as_a_non_root_user(host, scenario):
    expected = {"redis-server": "redis"}
    for unit in scenario.units_of(host.backend.host):
        pid = main_pid(host.backend.host, f"{unit}.service")
        user = host.run(f"ps -o user= -p {pid}").stdout.strip()
        assert user == expected.get(unit.split("@")[0], "matchbot"), unit
        children = host.run(f"ps -o user= --ppid {pid}").stdout.split()
        assert "root" not in children, unit


def test_plain_http_to_the_web_services_is_redirected_to_https(scenario, figures):
    assert scenario.tls
    address = scenario.address(scenario.app_host)
    for port in (8000, 5555):
        connection = http.client.HTTPConnection(address, port, timeout=10)
        try:
            connection.request("GET", "/health-check/redis")
            response = connection.getresponse()
            status, location = response.status, response.getheader("Location")
        finally:
            connection.close()
        figures.record("Drill 8 - access refused", attempt=f"plain HTTP to :{port}", reply=status)
        assert (status, location) == (301, f"https://{address}:{port}/health-check/redis")


def test_a_client_that_trusts_another_ca_refuses_the_web_services(scenario, tmp_path):
    other = Client(certificates.authority(tmp_path, "another CA").certificate_file)
    for url in (scenario.backend_url("/health-check/redis"), scenario.flower_url("/")):
        status, reason = other.get(url)
        assert status == 0 and "CERTIFICATE_VERIFY_FAILED" in reason, (url, reason)
