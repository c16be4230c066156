"""The deployed platform, end to end, by behaviour: services, workers, queues, health, Flower,
logs. Faults and security: ../drills/."""

from __future__ import annotations

import json
import time

import pytest

from app.core.queues import ALL_QUEUES
from labkit.waiting import wait_until

TASK_PER_QUEUE = {
    "default": ("app.tasks.health.arithmetic", {"operation": "sum", "operands": [1, 2]}),
    "file_processing": ("app.tasks.files.parse_upload", {"path": "stack-probe.csv"}),
    "ai_matching": (
        "app.tasks.matching.fuzzy_match",
        {"records": ["Acme Ltd"], "candidates": ["ACME Limited", "Initech"]},
    ),
    "reports": ("app.tasks.reports.generate_report", {"name": "stack", "rows": [{"a": 1}]}),
    "cleanup": ("app.tasks.cleanup.cleanup_expired", {"max_age_seconds": 999_999}),
}


def test_every_queue_of_the_app_is_probed():
    assert set(TASK_PER_QUEUE) == set(ALL_QUEUES)


def test_every_service_runs_and_is_enabled(host, scenario):
    for unit in scenario.units_of(host.backend.host):
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit


def test_every_worker_registered_with_its_queues(platform, scenario):
    expected = scenario.expected_workers()
    assert wait_until(lambda: platform.active_queues() == expected, timeout=60), (
        platform.active_queues()
    )


@pytest.mark.parametrize("queue", TASK_PER_QUEUE)
def test_a_task_on_each_queue_completes_on_a_worker_serving_it(
    platform, scenario, worker_hosts, queue
):
    for worker in worker_hosts:  # the upload must exist wherever the task lands
        worker.run(
            "install -o matchbot -g matchbot -d /var/lib/matchbot/uploads && "
            "printf 'id,name\\n1,Acme\\n' > /var/lib/matchbot/uploads/stack-probe.csv"
        )
    name, kwargs = TASK_PER_QUEUE[queue]
    outcome = platform.run_task(name, kwargs)
    assert outcome["state"] == "SUCCESS", outcome
    assert outcome["queue"] == queue
    assert queue in scenario.expected_workers()[outcome["worker"]]


def test_progress_is_reported_and_results_are_retrievable(platform):
    result = platform.celery.send_task(
        "app.tasks.health.long_running", kwargs={"total_steps": 6, "step_seconds": 0.5}
    )
    seen = []

    def finished() -> bool:
        if result.state == "PROGRESS":
            seen.append(result.info)
        return result.state == "SUCCESS"

    assert wait_until(finished, timeout=60, interval=0.1)
    assert seen, "no PROGRESS state observed"
    assert all(progress["total"] == 6 for progress in seen)
    again = platform.celery.AsyncResult(result.id).get(timeout=5)
    assert again == {"current": 6, "total": 6}


@pytest.mark.parametrize("check", ["redis", "celery"])
def test_health_endpoints_answer_200(scenario, check):
    url = scenario.backend_url(f"/health-check/{check}")
    status, body = scenario.http.get(url)
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"


def test_flower_refuses_anonymous_and_lists_workers_with_credentials(scenario):
    url = scenario.flower_url("/api/workers?refresh=1")
    assert scenario.http.get(url)[0] == 401
    credentials = ("admin", scenario.secret("flower-admin"))

    def listed() -> bool:
        status, body = scenario.http.get(url, auth=credentials)
        return status == 200 and set(scenario.expected_workers()) <= set(json.loads(body))

    assert wait_until(listed, timeout=60)


def test_flower_metrics_reachable_for_prometheus(scenario):
    status, body = scenario.http.get(scenario.flower_url("/metrics"))
    assert status == 200
    assert "flower_worker_online" in body


def test_logs_rotate_and_services_keep_logging(platform, worker_hosts):
    worker = worker_hosts[0]
    log = "/var/log/matchbot/worker-cpu.log"
    assert worker.run("logrotate -d /etc/logrotate.d/matchbot").rc == 0
    assert worker.run("logrotate -f /etc/logrotate.d/matchbot").rc == 0
    assert worker.file(f"{log}.1").exists
    rotated_at = time.time()

    def logged_again() -> bool:
        platform.run_task("app.tasks.health.canary")
        return "succeeded" in worker.run(f"cat {log}").stdout

    assert wait_until(logged_again, timeout=120, interval=0), f"nothing logged since {rotated_at}"
