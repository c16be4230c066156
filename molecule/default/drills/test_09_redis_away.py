"""Drill 4 — Redis away for 30 s: workers and backend stay up, both health endpoints answer 503
with a clear reason, and everything recovers to 200 and consumes again without manual action."""

from __future__ import annotations

import json
import time

from conftest import (
    EXPECTED_WORKERS,
    WORKER_UNITS,
    active_queues,
    address,
    http_get,
    record,
    restarts,
    run_task,
    wait_until,
)

AWAY_SECONDS = 30
REDIS_UNITS = "redis-server@broker redis-server@cache"


def health(app_host, check: str) -> tuple[int, dict]:
    status, body = http_get(f"http://{address(app_host)}:8000/health-check/{check}")
    return status, json.loads(body)


def test_redis_away_for_30_seconds(app_host, redis_host, worker_hosts):
    units = [(w, f"{u}.service") for w in worker_hosts for u in WORKER_UNITS]
    units.append((app_host, "matchbot-backend.service"))
    restarts_before = [restarts(host, unit) for host, unit in units]

    assert redis_host.run(f"systemctl stop {REDIS_UNITS}").rc == 0
    went_away = time.monotonic()
    try:
        redis_status, redis_body = health(app_host, "redis")
        celery_status, celery_body = health(app_host, "celery")
        assert redis_status == 503, redis_body
        assert redis_body["broker"]["reason"] and redis_body["cache"]["reason"], redis_body
        assert celery_status == 503, celery_body
        assert "broker unreachable" in celery_body["workers"]["reason"], celery_body
        time.sleep(max(0.0, AWAY_SECONDS - (time.monotonic() - went_away)))  # the outage itself
        for host, unit in units:
            assert host.service(unit).is_running, unit
    finally:
        assert redis_host.run(f"systemctl start {REDIS_UNITS}").rc == 0
    back = time.monotonic()

    assert wait_until(lambda: health(app_host, "redis")[0] == 200, timeout=120)
    assert wait_until(lambda: health(app_host, "celery")[0] == 200, timeout=180)
    recovered = time.monotonic() - back
    assert run_task(app_host, "app.tasks.health.canary")["state"] == "SUCCESS"
    assert wait_until(lambda: active_queues(app_host) == EXPECTED_WORKERS, timeout=120)
    restarted = [
        f"{host.backend.host}/{unit}"
        for (host, unit), before in zip(units, restarts_before, strict=True)
        if restarts(host, unit) != before
    ]
    record(
        "Drill tasks",
        drill="4 Redis away 30 s",
        sent=1,
        completed=1,
        lost=0,
        duplicated=0,
        note=f"503: {redis_body['broker']['reason'][:40]}; 200 again {recovered:.0f} s after",
    )
    assert not restarted, f"services restarted instead of riding the outage out: {restarted}"
