"""Drill 4 — Redis away for 30 s: workers and backend stay up, both health endpoints answer 503
with a clear reason, and everything recovers to 200 and consumes again without manual action."""

from __future__ import annotations

import json
import time

from labkit import hosts
from labkit.hosts import restarts, sh, worker_units
from labkit.waiting import wait_until

AWAY_SECONDS = 30
REDIS_UNITS = "redis-server@broker redis-server@cache"


def test_redis_away_for_30_seconds(platform, scenario, figures):
    app_host, redis_host = scenario.app_host, scenario.redis_host
    backend = scenario.backend_url("/health-check")

    def health(check: str) -> tuple[int, dict]:
        status, body = scenario.http.get(f"{backend}/{check}")
        return status, json.loads(body)

    units = [
        (w, f"{u}.service")
        for w in scenario.worker_hosts
        for u in worker_units(scenario.worker_groups)
    ]
    units.append((app_host, "matchbot-backend.service"))
    restarts_before = [restarts(host, unit) for host, unit in units]

    sh(redis_host, f"systemctl stop {REDIS_UNITS}")
    went_away = time.monotonic()
    try:
        redis_status, redis_body = health("redis")
        celery_status, celery_body = health("celery")
        assert redis_status == 503, redis_body
        assert redis_body["broker"]["reason"] and redis_body["cache"]["reason"], redis_body
        assert celery_status == 503, celery_body
        assert "broker unreachable" in celery_body["workers"]["reason"], celery_body
        time.sleep(max(0.0, AWAY_SECONDS - (time.monotonic() - went_away)))  # the outage itself
        for host, unit in units:
            assert hosts.run(host, f"systemctl is-active --quiet {unit}").returncode == 0, unit
    finally:
        sh(redis_host, f"systemctl start {REDIS_UNITS}")
    back = time.monotonic()

    assert wait_until(lambda: health("redis")[0] == 200, timeout=120)
    assert wait_until(lambda: health("celery")[0] == 200, timeout=180)
    recovered = time.monotonic() - back
    assert platform.run_task("app.tasks.health.canary")["state"] == "SUCCESS"
    expected = scenario.expected_workers()
    assert wait_until(lambda: platform.active_queues() == expected, timeout=120)
    restarted = [
        f"{host}/{unit}"
        for (host, unit), before in zip(units, restarts_before, strict=True)
        if restarts(host, unit) != before
    ]
    figures.record(
        "Drill tasks",
        drill="4 Redis away 30 s",
        sent=1,
        completed=1,
        lost=0,
        duplicated=0,
        note=f"503: {redis_body['broker']['reason'][:40]}; 200 again {recovered:.0f} s after",
    )
    assert not restarted, f"services restarted instead of riding the outage out: {restarted}"
