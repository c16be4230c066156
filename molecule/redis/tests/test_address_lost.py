"""A Redis host whose bind address disappears and comes back serves again by itself.

The host is detached from its network (its address is gone, as when a DHCP lease lapses or a
VM's NIC goes away) while the broker restarts, so the broker cannot bind its address. Debian's
unit would give up after five attempts in ten seconds and wait for `systemctl reset-failed`;
the role's drop-in keeps retrying, the journal says which address failed, and once the host
has its address again the broker listens on it with nobody touching the unit."""

from __future__ import annotations

from labkit.hosts import docker, restarts
from labkit.redis_cli import BROKER_PORT
from labkit.waiting import wait_until

UNIT = "redis-server@broker.service"
# Debian's redis-server@.service allows 5 starts in 10 s (systemd's defaults), then fails.
DEBIAN_START_LIMIT = 5


def unit_state(host) -> str:
    return host.run(f"systemctl show -p ActiveState --value {UNIT}").stdout.strip()


def test_broker_keeps_retrying_without_its_address_and_serves_once_it_returns(host, scenario):
    name = host.backend.host
    network, address = scenario.var(name, "lab_network"), scenario.address(name)
    on_address = scenario.redis_cli(name, BROKER_PORT, "monitor", address)
    since = host.run("date +%s").stdout.strip()
    before = restarts(name, UNIT)

    docker("network", "disconnect", network, name)
    try:
        assert address not in host.run("ip -brief address").stdout
        assert host.run(f"systemctl kill --signal=SIGKILL {UNIT}").rc == 0
        # More automatic restarts than Debian's start limit allows, and still trying.
        assert wait_until(
            lambda: restarts(name, UNIT) > before + DEBIAN_START_LIMIT, timeout=90, interval=1
        ), f"{UNIT}: {unit_state(host)} after {restarts(name, UNIT) - before} restarts"
        assert unit_state(host) != "failed"
        journal = host.run(f"journalctl -u {UNIT} --since @{since} -p warning -o cat").stdout
        assert f"Could not create server TCP listening socket {address}:{BROKER_PORT}" in journal
    finally:
        docker("network", "connect", "--ip", address, network, name)

    assert wait_until(on_address.answers, timeout=60, interval=1)
    assert unit_state(host) == "active"
