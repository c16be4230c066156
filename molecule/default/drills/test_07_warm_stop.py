"""Drill 2 — warm stop: `systemctl stop` of a worker during a long task lets the task finish
and store its result (KillMode=mixed sends SIGTERM to the main process only)."""

from __future__ import annotations

from labkit.hosts import sh
from labkit.waiting import wait_until

STEPS = 8


def test_warm_stop_lets_the_running_task_finish(platform, figures):
    result = platform.celery.send_task(
        "app.tasks.health.long_running", kwargs={"total_steps": STEPS, "step_seconds": 1}
    )
    assert wait_until(lambda: result.state == "PROGRESS", timeout=60, interval=0.1), result.state
    group, worker = result.worker.split("@")
    unit = f"matchbot-worker-{group}"
    try:
        sh(worker, f"systemctl stop {unit}")  # returns once the worker exited
        finished = platform.celery.AsyncResult(result.id)
        state, value = finished.state, finished.result if finished.ready() else None
    finally:
        sh(worker, f"systemctl start {unit}")
    completed = int(state == "SUCCESS")
    figures.record(
        "Drill tasks",
        drill="2 warm stop during a long task",
        sent=1,
        completed=completed,
        lost=1 - completed,
        duplicated=0,
        note=f"stopped {unit} on {worker}",
    )
    assert (state, value) == ("SUCCESS", {"current": STEPS, "total": STEPS})
