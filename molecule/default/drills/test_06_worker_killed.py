"""Drill 1 — a worker killed mid-batch: with a thousand tasks in flight, SIGKILL of a worker's
main process loses none of them. Late acknowledgement keeps a task in Redis until it ran, and
the atomic fetch of app.core.broker_transport keeps it there even when the kill lands between
taking a task and recording it. The killed worker's liveness lapses and the surviving workers
put its unacknowledged tasks back in their queues within seconds (the visibility timeout is
production's two hours: it plays no part). systemd restarts the worker and it registers again.
Duplicates (tasks that ran on the killed worker and again elsewhere) are reported."""

from __future__ import annotations

import time
import uuid

from labkit.hosts import main_pid, restarts, sh
from labkit.platform import duplicates
from labkit.waiting import wait_until

TASKS = 1000
HOLD_SECONDS = 0.05  # ≈ 12 s of work for the four `cpu` processes: the kill lands mid-batch
# BROKER_CONSUMER_LIVENESS_SECONDS (15) + the survivors' sweep (every 5 s), with room to spare.
REDELIVERY_BOUND = 60


def held_by(broker_admin, consumer_prefix: str) -> int:
    """Unacknowledged tasks whose recorded owner is a consumer of that process."""
    owners = broker_admin.run("HVALS", "unacked_owner").splitlines()
    return sum(owner.startswith(consumer_prefix) for owner in owners)


def test_worker_sigkill_mid_batch_loses_no_task(platform, scenario, figures, broker_admin):
    worker, unit = scenario.worker_hosts[0], "matchbot-worker-cpu.service"
    node = f"cpu@{worker}"
    pid, count = main_pid(worker, unit), restarts(worker, unit)
    batch = f"sigkill-{uuid.uuid4().hex[:8]}"
    published = platform.publish_tally(batch, TASKS, HOLD_SECONDS)
    assert wait_until(lambda: held_by(broker_admin, f"{worker}.{pid}.") > 0, timeout=60)
    held = held_by(broker_admin, f"{worker}.{pid}.")
    killed_at = time.monotonic()
    sh(worker, f"systemctl kill --kill-whom=main --signal=SIGKILL {unit}")

    assert wait_until(lambda: main_pid(worker, unit) not in (0, pid), timeout=60)
    assert restarts(worker, unit) > count
    assert wait_until(lambda: node in platform.active_queues(), timeout=60)
    registered_after = time.monotonic() - killed_at
    assert wait_until(
        lambda: held_by(broker_admin, f"{worker}.{pid}.") == 0, timeout=REDELIVERY_BOUND
    ), f"the killed worker's tasks were not put back within {REDELIVERY_BOUND} s"
    redelivered_after = time.monotonic() - killed_at

    counts = platform.wait_for_tally(batch, TASKS, timeout=240)
    completed = sum(1 for index in range(TASKS) if counts.get(index))
    figures.record(
        "Drill tasks",
        drill="1 worker SIGKILL mid-batch",
        sent=published.sent,
        completed=completed,
        lost=TASKS - completed,
        duplicated=duplicates(counts),
        note=f"{held} held by the killed worker, back in their queue {redelivered_after:.0f} s "
        f"after the SIGKILL; worker back in {registered_after:.0f} s",
    )
    assert completed == TASKS, f"{TASKS - completed} tasks lost"
