"""Drill HA-5 — two of the three Sentinels are down. Health still answers 200 (the primary
serves) but says a failover is no longer possible. When the primary then stops, the one
Sentinel left sees it down (subjectively) and can never reach the quorum to call it
objectively down, so no replica is promoted behind a majority's back: the platform waits for
its primary. Once the primary is back tasks run again, and once the Sentinels are back they can
fail over again."""

from __future__ import annotations

import json
import time

import pytest

from labkit import hosts, replication
from labkit.stream import round_trip
from labkit.waiting import seconds_until, wait_until

BROKER_UNIT = "redis-server@broker.service"
SENTINEL_UNIT = "redis-sentinel.service"


def sentinels_in_health(scenario) -> dict[str, object]:
    status, body = scenario.health("redis")
    assert status == 200, body
    report: dict[str, object] = json.loads(body)["broker"]["sentinels"]
    return report


@pytest.fixture
def two_sentinels_down(scenario):
    """The primary's Sentinel and one replica's stop; the other replica's Sentinel is left."""
    assert wait_until(lambda: replication.settled(scenario), timeout=120), "the set is not whole"
    primary = replication.settled(scenario)
    assert primary is not None
    left = next(h for h in scenario.redis_hosts if h != primary)
    stopped = [h for h in scenario.redis_hosts if h != left]
    hosts.systemctl(stopped, "stop", SENTINEL_UNIT)
    try:
        yield primary, left
    finally:
        hosts.systemctl(stopped, "start", SENTINEL_UNIT)


def test_without_a_quorum_no_replica_is_promoted(scenario, platform, figures, two_sentinels_down):
    primary, left = two_sentinels_down
    master = replication.BROKER[0]
    down_after = int(replication.sentinel_master(scenario, left)["down-after-milliseconds"]) / 1000
    # The Sentinel left counts its peers out once they have not answered for down-after.
    assert wait_until(
        lambda: (
            sentinels_in_health(scenario)
            == {
                "answering": 1,
                "primary": f"{scenario.address(primary)}:6379",
                "failover_possible": False,
            }
        ),
        timeout=30,
    ), sentinels_in_health(scenario)
    assert (
        replication.sentinel(scenario, left)
        .run("SENTINEL", "CKQUORUM", master)
        .startswith("NOQUORUM")
    )

    hosts.systemctl([primary], "stop", BROKER_UNIT)
    try:
        assert wait_until(
            lambda: "s_down" in replication.sentinel_master(scenario, left).get("flags", ""),
            timeout=30,
        )
        # With its peers reachable a Sentinel that sees s_down asks them every second and calls
        # o_down (then fails over) within about a second; HA-1 promoted 1 s after down-after.
        # Watch three times that long: the flags never say o_down, the primary never moves.
        watched_until = time.monotonic() + 3 * down_after
        flags_seen = set()
        while time.monotonic() < watched_until:
            seen = replication.sentinel_master(scenario, left)
            flags_seen.add(seen.get("flags", ""))
            assert "o_down" not in seen.get("flags", ""), seen
            assert seen["ip"] == scenario.address(primary), seen
            time.sleep(0.5)
    finally:
        hosts.systemctl([primary], "start", BROKER_UNIT)

    # Back, the primary refuses writes (NOREPLICAS) until a replica has reconnected.
    serving_after = seconds_until(lambda: round_trip(platform), timeout=120, interval=0.5)
    assert replication.primary_answers(scenario) == {left: scenario.address(primary)}
    figures.record(
        "HA drills",
        drill="HA-5 two Sentinels down, then the primary",
        note=f"{left}'s Sentinel saw {sorted(flags_seen)} for {3 * down_after:.0f} s and "
        f"promoted nothing; {primary} stayed primary and served again {serving_after:.1f} s "
        "after it came back",
    )


def test_the_sentinels_back_can_fail_over_again(scenario):
    assert wait_until(lambda: sentinels_in_health(scenario)["failover_possible"] is True, 60)
    assert sentinels_in_health(scenario)["answering"] == 3
