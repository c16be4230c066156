"""Drill 2 — warm stop: `systemctl stop` of a worker during a long task lets the task finish
and store its result (KillMode=mixed sends SIGTERM to the main process only)."""

from __future__ import annotations

import textwrap

from conftest import WORKER_HOSTS, app_python, record

STEPS = 8


def test_warm_stop_lets_the_running_task_finish(app_host, worker_hosts):
    code = textwrap.dedent(f"""
        import json, time
        from app.core.celery import app
        r = app.send_task("app.tasks.health.long_running",
                          kwargs={{"total_steps": {STEPS}, "step_seconds": 1}})
        deadline = time.monotonic() + 60
        while r.state != "PROGRESS" and time.monotonic() < deadline:
            time.sleep(0.1)
        print(json.dumps({{"id": r.id, "state": r.state, "worker": r.worker}}))
    """)
    started = app_python(app_host, code)
    assert started["state"] == "PROGRESS", started
    group, worker_name = started["worker"].split("@")
    worker = worker_hosts[WORKER_HOSTS.index(worker_name)]
    unit = f"matchbot-worker-{group}"
    try:
        assert worker.run(f"systemctl stop {unit}").rc == 0  # returns once the worker exited
        finished = app_python(
            app_host,
            textwrap.dedent(f"""
                import json
                from app.core.celery import app
                r = app.AsyncResult({started["id"]!r})
                print(json.dumps({{"state": r.state, "result": r.result if r.ready() else None}}))
            """),
        )
    finally:
        worker.run(f"systemctl start {unit}")
    completed = int(finished["state"] == "SUCCESS")
    record(
        "Drill tasks",
        drill="2 warm stop during a long task",
        sent=1,
        completed=completed,
        lost=1 - completed,
        duplicated=0,
        note=f"stopped {unit} on {worker_name}",
    )
    assert finished == {"state": "SUCCESS", "result": {"current": STEPS, "total": STEPS}}
