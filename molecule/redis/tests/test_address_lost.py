"""A Redis host whose bind address disappears and comes back serves again by itself.

The host is detached from its network (its address is gone, as when a DHCP lease lapses or a
VM's NIC goes away) while the broker restarts, so the broker cannot bind its address. Debian's
unit would give up after five attempts in ten seconds and wait for `systemctl reset-failed`;
the role's drop-in keeps retrying, the journal says which address failed, and once the host
has its address again the broker listens on it with nobody touching the unit."""

from __future__ import annotations

import subprocess

from conftest import BROKER_PORT, RedisClient, restarts, secret, wait_until

UNIT = "redis-server@broker.service"
# Debian's redis-server@.service allows 5 starts in 10 s (systemd's defaults), then fails.
DEBIAN_START_LIMIT = 5


def docker_network(action: str, *args: str) -> None:
    subprocess.run(["docker", "network", action, *args], check=True, capture_output=True)


def unit_state(host) -> str:
    return host.run(f"systemctl show -p ActiveState --value {UNIT}").stdout.strip()


def test_broker_keeps_retrying_without_its_address_and_serves_once_it_returns(host):
    hostvars = host.ansible.get_variables()
    name, network = hostvars["inventory_hostname"], hostvars["lab_network"]
    address = hostvars["matchbot_private_address"]
    on_address = RedisClient(host, BROKER_PORT, "monitor", secret("redis-monitor"))
    since = host.run("date +%s").stdout.strip()
    before = restarts(host, UNIT)

    docker_network("disconnect", network, name)
    try:
        assert address not in host.run("ip -brief address").stdout
        assert host.run(f"systemctl kill --signal=SIGKILL {UNIT}").rc == 0
        # More automatic restarts than Debian's start limit allows, and still trying.
        assert wait_until(
            lambda: restarts(host, UNIT) > before + DEBIAN_START_LIMIT, timeout=90, interval=1
        ), f"{UNIT}: {unit_state(host)} after {restarts(host, UNIT) - before} restarts"
        assert unit_state(host) != "failed"
        journal = host.run(f"journalctl -u {UNIT} --since @{since} -p warning -o cat").stdout
        assert f"Could not create server TCP listening socket {address}:{BROKER_PORT}" in journal
    finally:
        docker_network("connect", "--ip", address, network, name)

    def serves_on_its_address() -> bool:
        reply = host.run(on_address.command_line("PING", extra=("-h", address)))
        return reply.stdout.strip() == "PONG"

    assert wait_until(serves_on_its_address, timeout=60, interval=1)
    assert unit_state(host) == "active"
