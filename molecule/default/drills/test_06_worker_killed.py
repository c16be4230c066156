"""Drill 1 — a worker killed mid-batch: with a thousand tasks in flight, SIGKILL of a worker's
main process loses none of them. Late acknowledgement keeps a task in Redis until it ran, and
the atomic fetch of app.core.broker_transport keeps it there even when the kill lands between
taking a task and recording it; Redis hands the killed worker's unacknowledged tasks to the
others after the visibility timeout (shortened for the drills in
molecule/default/group_vars/all/drills.yml). systemd restarts the worker and it registers
again. Duplicates (tasks that ran on the killed worker and again elsewhere) are reported."""

from __future__ import annotations

import time

from conftest import (
    WORKER_HOSTS,
    active_queues,
    main_pid,
    new_batch,
    publish_tally,
    record,
    restarts,
    wait_for_tally,
    wait_until,
)

TASKS = 1000
HOLD_SECONDS = 0.05  # ≈ 12 s of work for the four `cpu` processes: the kill lands mid-batch


def test_worker_sigkill_mid_batch_loses_no_task(app_host, worker_hosts):
    worker, unit = worker_hosts[0], "matchbot-worker-cpu.service"
    node = f"cpu@{WORKER_HOSTS[0]}"
    pid, count = main_pid(worker, unit), restarts(worker, unit)
    batch = new_batch("sigkill")
    published = publish_tally(app_host, batch, TASKS, HOLD_SECONDS)
    killed_at = time.monotonic()
    assert worker.run(f"systemctl kill --kill-whom=main --signal=SIGKILL {unit}").rc == 0

    assert wait_until(lambda: main_pid(worker, unit) not in (0, pid), timeout=60)
    assert restarts(worker, unit) > count
    assert wait_until(lambda: node in active_queues(app_host), timeout=60)
    registered_after = time.monotonic() - killed_at

    counts = wait_for_tally(app_host, batch, TASKS, timeout=240)
    completed = sum(1 for index in range(TASKS) if counts.get(index))
    duplicated = sum(1 for runs in counts.values() if runs > 1)
    record(
        "Drill tasks",
        drill="1 worker SIGKILL mid-batch",
        sent=published["sent"],
        completed=completed,
        lost=TASKS - completed,
        duplicated=duplicated,
        note=f"worker back in {registered_after:.0f} s",
    )
    assert completed == TASKS, f"{TASKS - completed} tasks lost"
