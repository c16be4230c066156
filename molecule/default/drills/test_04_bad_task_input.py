"""Drill 7 — bad task input: malformed payloads, wrong argument types, oversized arguments
and unknown task names end as FAILURE (or are rejected) with a clear message, and the worker
keeps serving."""

from __future__ import annotations

import textwrap

import pytest
from conftest import app_python, broker_admin, record, run_task

BAD_CALLS = [
    (
        "wrong type",
        "app.tasks.health.arithmetic",
        {"operation": "sum", "operands": "1,2"},
        "operands must be",
    ),
    (
        "wrong element type",
        "app.tasks.health.arithmetic",
        {"operation": "sum", "operands": [1, "x"]},
        "operands[1] must be",
    ),
    (
        "unknown choice",
        "app.tasks.health.arithmetic",
        {"operation": "pow", "operands": [1]},
        "operation must be one of",
    ),
    ("missing argument", "app.tasks.health.arithmetic", {"operation": "sum"}, "operands"),
    ("unexpected argument", "app.tasks.health.canary", {"surprise": 1}, "surprise"),
    (
        "oversized list",
        "app.tasks.health.arithmetic",
        "{'operation': 'sum', 'operands': [1] * 200_000}",
        "operands must hold 1 to",
    ),
    (
        "oversized string",
        "app.tasks.files.parse_upload",
        "{'path': 'x' * 1_000_000}",
        "path must be 1 to 255 characters",
    ),
    (
        "path escape",
        "app.tasks.files.parse_upload",
        {"path": "../../etc/shadow"},
        "path must name a file inside",
    ),
    ("unknown task name", "app.tasks.nothing.here", {}, "never registered"),
]


@pytest.mark.parametrize(
    ("what", "name", "kwargs", "message"), BAD_CALLS, ids=[call[0] for call in BAD_CALLS]
)
def test_bad_call_fails_with_its_message(app_host, what, name, kwargs, message):
    code = kwargs if isinstance(kwargs, str) else None  # built on the host: too big to pass
    outcome = run_task(app_host, name, None if code else kwargs, timeout=60, kwargs_code=code)
    record(
        "Drill 7 - bad task input",
        input=what,
        state=outcome["state"],
        message=str(outcome["result"])[:70],
    )
    assert outcome["state"] == "FAILURE", outcome
    assert message.lower() in str(outcome["result"]).lower(), outcome


def test_malformed_payload_is_rejected_and_the_queue_moves_on(app_host, redis_host):
    """A message whose body is not JSON: the worker logs and drops it instead of looping on it."""
    code = textwrap.dedent("""
        import json, uuid
        from app.core.celery import app
        task_id = str(uuid.uuid4())
        with app.producer_or_acquire() as producer:
            producer.publish(b"{not json", routing_key="default", exchange="default",
                             content_type="application/json", content_encoding="utf-8",
                             headers={"id": task_id, "task": "app.tasks.health.canary",
                                      "lang": "py", "argsrepr": "()", "kwargsrepr": "{}"})
        print(json.dumps(task_id))
    """)
    task_id = app_python(app_host, code)
    outcome = run_task(app_host, "app.tasks.health.canary", timeout=60)
    broker = broker_admin(redis_host)
    assert task_id not in broker.run("LRANGE", "default", "0", "-1")  # not stuck in the queue
    assert task_id not in broker.run("HVALS", "unacked")  # nor waiting for redelivery
    record(
        "Drill 7 - bad task input",
        input="malformed payload",
        state="rejected",
        message="dropped by the worker; next task " + outcome["state"],
    )
    assert outcome["state"] == "SUCCESS", outcome


def test_workers_keep_serving_after_bad_input(app_host):
    outcome = run_task(
        app_host, "app.tasks.health.arithmetic", {"operation": "sum", "operands": [2, 3]}
    )
    assert outcome == {**outcome, "state": "SUCCESS", "result": 5.0}
