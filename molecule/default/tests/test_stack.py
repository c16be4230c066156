"""The deployed platform, end to end, by behaviour: services, workers, queues, health, Flower,
logs. Faults and security: ../drills/."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import (
    EXPECTED_WORKERS,
    WORKER_GROUP_QUEUES,
    active_queues,
    address,
    app_python,
    http_get,
    run_task,
    secret,
    units_of,
    wait_until,
)

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


def test_every_service_runs_and_is_enabled(host):
    for unit in units_of(host):
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit


def test_every_worker_registered_with_its_queues(app_host):
    assert wait_until(lambda: active_queues(app_host) == EXPECTED_WORKERS, timeout=60), (
        active_queues(app_host)
    )


@pytest.mark.parametrize("queue", TASK_PER_QUEUE)
def test_a_task_on_each_queue_completes_on_a_worker_serving_it(app_host, worker_hosts, queue):
    for worker in worker_hosts:  # the upload must exist wherever the task lands
        worker.run(
            "install -o matchbot -g matchbot -d /var/lib/matchbot/uploads && "
            "printf 'id,name\\n1,Acme\\n' > /var/lib/matchbot/uploads/stack-probe.csv"
        )
    name, kwargs = TASK_PER_QUEUE[queue]
    outcome = run_task(app_host, name, kwargs)
    assert outcome["state"] == "SUCCESS", outcome
    assert outcome["queue"] == queue
    group = outcome["worker"].split("@")[0]
    assert queue in WORKER_GROUP_QUEUES[group]


def test_progress_is_reported_and_results_are_retrievable(app_host):
    code = textwrap.dedent("""
        import json, time
        from app.core.celery import app
        r = app.send_task("app.tasks.health.long_running",
                          kwargs={"total_steps": 6, "step_seconds": 0.5})
        seen = []
        deadline = time.monotonic() + 60
        while r.state != "SUCCESS" and time.monotonic() < deadline:
            if r.state == "PROGRESS":
                seen.append(r.info)
            time.sleep(0.1)
        again = app.AsyncResult(r.id).get(timeout=5)
        print(json.dumps({"seen": seen, "result": again}))
    """)
    outcome = app_python(app_host, code)
    assert outcome["seen"], "no PROGRESS state observed"
    assert all(p["total"] == 6 for p in outcome["seen"])
    assert outcome["result"] == {"current": 6, "total": 6}


@pytest.mark.parametrize("check", ["redis", "celery"])
def test_health_endpoints_answer_200(app_host, check):
    status, body = http_get(f"http://{address(app_host)}:8000/health-check/{check}")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"


def test_flower_refuses_anonymous_and_lists_workers_with_credentials(app_host):
    url = f"http://{address(app_host)}:5555/api/workers?refresh=1"
    assert http_get(url)[0] == 401
    credentials = ("admin", secret("flower-admin"))

    def listed() -> bool:
        status, body = http_get(url, auth=credentials)
        return status == 200 and set(EXPECTED_WORKERS) <= set(json.loads(body))

    assert wait_until(listed, timeout=60)


def test_flower_metrics_reachable_for_prometheus(app_host):
    status, body = http_get(f"http://{address(app_host)}:5555/metrics")
    assert status == 200
    assert "flower_worker_online" in body


def test_logs_rotate_and_services_keep_logging(app_host, worker_hosts):
    worker = worker_hosts[0]
    log = "/var/log/matchbot/worker-cpu.log"
    assert worker.run("logrotate -d /etc/logrotate.d/matchbot").rc == 0
    assert worker.run("logrotate -f /etc/logrotate.d/matchbot").rc == 0
    assert worker.file(f"{log}.1").exists

    def logged_again() -> bool:
        run_task(app_host, "app.tasks.health.canary")
        return "succeeded" in worker.run(f"cat {log}").stdout

    assert wait_until(logged_again, timeout=120, interval=0)
