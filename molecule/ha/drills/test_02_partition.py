"""Drill HA-4 — the primary's host is cut off from every other host (a network partition) while
it keeps running. Within redis_min_replicas_max_lag seconds it refuses writes (NOREPLICAS)
instead of acknowledging what a failover would discard; the two hosts still together elect a
new primary and the platform runs tasks through it; when the network heals, the old primary
becomes the new one's replica."""

from __future__ import annotations

import time

from labkit import hosts, replication
from labkit.stream import round_trip
from labkit.waiting import seconds_until, wait_until

PROBE_KEY = "drill:partition-probe"


def new_primary_of_the_majority(scenario, isolated: str) -> str | None:
    """The primary the Sentinels outside the isolated host agree on, if it moved."""
    answers = replication.primary_answers(scenario)
    addresses = {address for host, address in answers.items() if host != isolated}
    if len(addresses) != 1 or scenario.address(isolated) in addresses:
        return None
    (address,) = addresses
    return next(h for h in scenario.redis_hosts if scenario.address(h) == address)


def test_an_isolated_primary_refuses_writes_and_the_majority_fails_over(
    scenario, platform, figures
):
    assert wait_until(lambda: replication.settled(scenario), timeout=120), "the set is not whole"
    old = replication.settled(scenario)
    assert old is not None
    network, address = scenario.var(old, "lab_network"), scenario.address(old)
    on_the_isolated_host = replication.admin(scenario, old)
    assert on_the_isolated_host.run("SET", PROBE_KEY, "before") == "OK"

    hosts.docker("network", "disconnect", network, old)
    cut_at = time.monotonic()
    try:
        refusing_after = seconds_until(
            lambda: "NOREPLICAS" in on_the_isolated_host.run("SET", PROBE_KEY, "isolated"),
            timeout=60,
            interval=0.5,
        )
        new = None

        def elected() -> bool:
            nonlocal new
            new = new_primary_of_the_majority(scenario, old)
            return new is not None

        elected_after = seconds_until(elected, timeout=60, interval=0.5)
        seconds_until(lambda: round_trip(platform), timeout=120, interval=0)
        first_task_after = time.monotonic() - cut_at
    finally:
        hosts.docker("network", "connect", "--ip", address, network, old)

    assert wait_until(
        lambda: replication.role(scenario, old).get("master_host") == scenario.address(new),
        timeout=120,
    ), f"{old} did not become a replica of {new} after the partition healed"
    replication.admin(scenario, new).run("DEL", PROBE_KEY)
    figures.record(
        "HA drills",
        drill="HA-4 primary partitioned",
        note=f"{old} isolated: refuses writes after {refusing_after:.1f} s; {new} elected after "
        f"{elected_after:.1f} s; first task through it {first_task_after:.1f} s after the cut",
    )
