"""Redis on TLS only (redis_tls): the plaintext port is closed, a remote client verifies the
server against the lab CA, one that trusts another CA is refused, the key is the redis user's."""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from cryptography import x509

from labkit import certificates
from labkit.ansible import run_playbook
from labkit.hosts import main_pid
from labkit.redis_cli import BROKER_PORT, CACHE_PORT

INSTANCES = {"broker": BROKER_PORT, "cache": CACHE_PORT}


def remote(scenario, ca_file, user: str = "monitor") -> redis.Redis:
    """A client on the controller of the broker at the host's private address, over TLS."""
    return redis.Redis(
        host=scenario.address(scenario.redis_host),
        port=BROKER_PORT,
        username=user,
        password=scenario.secret(f"redis-{user}"),
        ssl=True,
        ssl_ca_certs=str(ca_file),
        socket_timeout=5,
    )


@pytest.mark.parametrize("port", INSTANCES.values())
def test_the_plaintext_port_does_not_answer(scenario, redis_as, port):
    over_tls = redis_as("admin", port)
    assert over_tls.run("CONFIG", "GET", "port").split() == ["port", "0"]
    assert over_tls.run("CONFIG", "GET", "tls-port").split() == ["tls-port", str(port)]
    in_clear = replace(over_tls, tls=False).run("PING")
    assert "PONG" not in in_clear, in_clear


def test_a_plaintext_client_from_another_host_gets_nothing(scenario):
    plain = redis.Redis(
        host=scenario.address(scenario.redis_host),
        port=BROKER_PORT,
        username="monitor",
        password=scenario.secret("redis-monitor"),
        socket_timeout=5,
    )
    with pytest.raises(redis.ConnectionError):
        plain.ping()


def test_a_remote_client_verifies_the_server_against_the_lab_ca(scenario):
    assert scenario.ca_file.is_file()
    assert remote(scenario, scenario.ca_file).ping() is True


def test_a_client_that_trusts_another_ca_is_refused(scenario, tmp_path):
    other = certificates.authority(tmp_path, "another CA")
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        remote(scenario, other.certificate_file).ping()


def test_the_key_is_readable_by_the_redis_user_only(host):
    key = host.file("/etc/redis/tls/redis.key")
    assert (key.user, key.group, key.mode) == ("redis", "redis", 0o600)
    folder = host.file("/etc/redis/tls")
    assert (folder.user, folder.mode) == ("redis", 0o750)
    assert "PRIVATE KEY" not in host.file("/etc/redis/tls/redis.crt").content_string


def served_serial(scenario) -> int:
    """The serial of the certificate the broker presents to a new connection (verified)."""
    address = scenario.address(scenario.redis_host)
    return certificates.served(address, BROKER_PORT, scenario.ca_file).serial_number


def converge(*args: str):
    return run_playbook(
        os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"),
        os.environ["MOLECULE_INVENTORY_FILE"],
        *args,
        timeout=300,
    )


def test_a_certificate_from_another_pki_is_served_and_reloaded_without_a_restart(
    scenario, tmp_path
):
    """pki_provided_certificate: one that expires within the renewal margin is refused before
    any change; a good one and its key replace the issued ones (Redis reloads them in place);
    removed, the CA issues one again."""
    name = scenario.redis_host
    ca = certificates.load(scenario.ca_file, scenario.ca_file.with_name("ca.key"))
    pids = {unit: main_pid(name, unit) for unit in ("redis-server@broker", "redis-server@cache")}

    def provide(label: str, days: int) -> tuple[Path, x509.Certificate]:
        lifetime = datetime.timedelta(days=days)
        files = certificates.server(ca, tmp_path, label, (scenario.address(name),), lifetime)
        extra = tmp_path / f"{label}.json"
        extra.write_text(
            json.dumps(
                {
                    "pki_provided_certificate": files.certificate_file.read_text(),
                    "pki_provided_private_key": files.key_file.read_text(),
                }
            )
        )
        return extra, x509.load_pem_x509_certificate(files.certificate_file.read_bytes())

    expiring, _ = provide("expiring", 5)
    refused = converge("-e", f"@{expiring}")
    assert refused.returncode != 0
    assert any("expires within 30 days" in message for message in refused.messages())
    assert not any(refused.changed_per_host().values())

    extra, expected = provide("provided", 90)
    installed = converge("-e", f"@{extra}")
    assert installed.returncode == 0, installed.text[-3000:]
    assert served_serial(scenario) == expected.serial_number
    key = json.loads(extra.read_text())["pki_provided_private_key"]
    assert key.splitlines()[1] not in installed.text  # the key never in Ansible's output

    reissued = converge()
    assert reissued.returncode == 0, reissued.text[-3000:]
    assert served_serial(scenario) != expected.serial_number
    assert {unit: main_pid(name, unit) for unit in pids} == pids
