"""Drill 3 — Redis restart and crash with tasks queued and no worker consuming.
`systemctl restart` keeps every queued task (clean shutdown, AOF); SIGKILL of redis-server may
lose only what the fsync policy allows: with `appendfsync everysec`, writes of the last second
or two before the crash. Then the workers start again and process everything that survived."""

from __future__ import annotations

import uuid

from labkit.hosts import main_pid, restarts, sh, systemctl, worker_units
from labkit.platform import duplicates
from labkit.waiting import wait_until

QUEUED = 10_000
# Published right before the SIGKILL, on top of the QUEUED still waiting: long enough (a few
# seconds at ~600/s) to span the fsync window, and cheaper to drain than another 10,000.
CRASH_BATCH = 2_000
FSYNC_WINDOW_SECONDS = 2  # Redis documents "everysec" as losing at most about two seconds
UNIT = "redis-server@broker.service"


def queued(broker) -> int:
    return int(broker.run("LLEN", "default"))


def test_queued_tasks_survive_a_redis_restart_and_a_crash(
    platform, scenario, figures, broker_admin
):
    broker, redis_host, record = broker_admin, scenario.redis_host, figures.record
    workers = scenario.worker_hosts
    units = worker_units(scenario.worker_groups)
    systemctl(workers, "stop", *units)
    try:
        before = queued(broker)
        first = f"restart-{uuid.uuid4().hex[:8]}"
        platform.publish_tally(first, QUEUED)
        assert queued(broker) == before + QUEUED

        sh(redis_host, f"systemctl restart {UNIT}")
        assert wait_until(broker.answers, timeout=60)
        after_restart = queued(broker)
        record(
            "Drill tasks",
            drill="3a Redis restart, 10k queued",
            sent=QUEUED,
            completed="see 3c",
            lost=before + QUEUED - after_restart,
            duplicated="",
            note="systemctl restart redis-server@broker",
        )
        assert after_restart == before + QUEUED

        second = f"crash-{uuid.uuid4().hex[:8]}"
        published = platform.publish_tally(second, CRASH_BATCH)
        pid, count = main_pid(redis_host, UNIT), restarts(redis_host, UNIT)
        sh(redis_host, f"systemctl kill --signal=SIGKILL {UNIT}")
        assert wait_until(lambda: restarts(redis_host, UNIT) > count, timeout=60)
        assert main_pid(redis_host, UNIT) != pid
        assert wait_until(broker.answers, timeout=60)
        lost = after_restart + CRASH_BATCH - queued(broker)
        rate = published.sent / published.seconds
        allowed = int(rate * FSYNC_WINDOW_SECONDS)
        record(
            "Drill tasks",
            drill="3b Redis SIGKILL right after publishing",
            sent=CRASH_BATCH,
            completed="see 3c",
            lost=lost,
            duplicated="",
            note=f"fsync window allows {allowed} at {rate:.0f}/s",
        )
        assert 0 <= lost <= allowed, (
            f"{lost} tasks lost, more than {FSYNC_WINDOW_SECONDS} s of writes"
        )
    finally:
        systemctl(workers, "start", *units)

    first_counts = platform.wait_for_tally(first, QUEUED, timeout=300)
    second_counts = platform.wait_for_tally(second, CRASH_BATCH - lost, timeout=300)
    completed = len(first_counts) + len(second_counts)
    record(
        "Drill tasks",
        drill="3c workers back: drain after restart + crash",
        sent=QUEUED + CRASH_BATCH,
        completed=completed,
        lost=QUEUED + CRASH_BATCH - completed,
        duplicated=duplicates(first_counts) + duplicates(second_counts),
        note=f"queue on {redis_host}",
    )
    assert len(first_counts) == QUEUED
    assert len(second_counts) == CRASH_BATCH - lost
