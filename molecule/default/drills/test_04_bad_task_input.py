"""Drill 7 — bad task input: malformed payloads, wrong argument types, oversized arguments
and unknown task names end as FAILURE (or are rejected) with a clear message, and the worker
keeps serving."""

from __future__ import annotations

import uuid

import pytest

from app.core.broker_transport import MessageTooLargeError

BAD_CALLS = [
    (
        "wrong type",
        "app.tasks.health.arithmetic",
        {"operation": "sum", "operands": "1,2"},
        "operands: Input should be a valid list",
    ),
    (
        "wrong element type",
        "app.tasks.health.arithmetic",
        {"operation": "sum", "operands": [1, "x"]},
        "operands[1]: Input should be a valid number",
    ),
    (
        "unknown choice",
        "app.tasks.health.arithmetic",
        {"operation": "pow", "operands": [1]},
        "operation: Input should be 'sum', 'product', 'min' or 'max'",
    ),
    (
        "missing argument",
        "app.tasks.health.arithmetic",
        {"operation": "sum"},
        "operands: Field required",
    ),
    ("unexpected argument", "app.tasks.health.canary", {"surprise": 1}, "surprise: Extra inputs"),
    (
        "oversized list",
        "app.tasks.health.arithmetic",
        {"operation": "sum", "operands": [1] * 200_000},
        "operands: List should have at most 10000 items",
    ),
    (
        "oversized string",
        "app.tasks.files.parse_upload",
        {"path": "x" * 300_000},
        "path: String should have at most 255 characters",
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
def test_bad_call_fails_with_its_message(platform, figures, what, name, kwargs, message):
    outcome = platform.run_task(name, kwargs, timeout=60)
    figures.record(
        "Drill 7 - bad task input",
        input=what,
        state=outcome["state"],
        message=str(outcome["result"])[:70],
    )
    assert outcome["state"] == "FAILURE", outcome
    assert message.lower() in str(outcome["result"]).lower(), outcome


def test_a_message_over_the_broker_limit_is_refused_at_publish(platform, figures):
    """A task message over BROKER_MAX_MESSAGE_BYTES (1 MiB) never reaches Redis: the publisher
    gets the error, naming the limit."""
    with pytest.raises(MessageTooLargeError, match="BROKER_MAX_MESSAGE_BYTES") as refused:
        platform.run_task("app.tasks.files.parse_upload", {"path": "x" * 2_000_000})
    figures.record(
        "Drill 7 - bad task input",
        input="2 MB argument",
        state="refused at publish",
        message=str(refused.value)[:70],
    )


def test_malformed_payload_is_rejected_and_the_queue_moves_on(platform, figures, broker_admin):
    """A message whose body is not JSON: the worker logs and drops it instead of looping on it."""
    task_id = str(uuid.uuid4())
    with platform.celery.producer_or_acquire() as producer:
        producer.publish(
            b"{not json",
            routing_key="default",
            exchange="default",
            content_type="application/json",
            content_encoding="utf-8",
            headers={
                "id": task_id,
                "task": "app.tasks.health.canary",
                "lang": "py",
                "argsrepr": "()",
                "kwargsrepr": "{}",
            },
        )
    outcome = platform.run_task("app.tasks.health.canary", timeout=60)
    assert task_id not in broker_admin.run("LRANGE", "default", "0", "-1")  # not stuck
    assert task_id not in broker_admin.run("HVALS", "unacked")  # nor waiting for redelivery
    figures.record(
        "Drill 7 - bad task input",
        input="malformed payload",
        state="rejected",
        message="dropped by the worker; next task " + outcome["state"],
    )
    assert outcome["state"] == "SUCCESS", outcome


def test_workers_keep_serving_after_bad_input(platform):
    outcome = platform.run_task(
        "app.tasks.health.arithmetic", {"operation": "sum", "operands": [2, 3]}
    )
    assert outcome == {**outcome, "state": "SUCCESS", "result": 5.0}
