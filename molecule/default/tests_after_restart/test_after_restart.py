"""After every host container restarted: all services back, queued tasks processed."""

from __future__ import annotations

import json
import textwrap

from conftest import EXPECTED_WORKERS, active_queues, app_python, ephemeral_dir, wait_until

UNITS = {
    "matchbot-molecule-redis": ["redis-server@broker", "redis-server@cache"],
    "matchbot-molecule-worker-1": ["matchbot-worker-cpu", "matchbot-worker-io"],
    "matchbot-molecule-worker-2": ["matchbot-worker-cpu", "matchbot-worker-io"],
    "matchbot-molecule-app": ["matchbot-beat", "matchbot-flower", "matchbot-backend"],
}


def test_every_service_is_back(host):
    for unit in UNITS[host.backend.get_hostname()]:
        assert host.service(unit).is_enabled, unit
        assert wait_until(lambda unit=unit: host.service(unit).is_running, timeout=60), unit


def test_workers_registered_again(app_host):
    assert wait_until(lambda: active_queues(app_host) == EXPECTED_WORKERS, timeout=90)


def test_tasks_queued_before_the_restart_were_processed(app_host):
    ids = json.loads((ephemeral_dir() / "queued-before-restart.json").read_text())
    code = textwrap.dedent(f"""
        import json
        from app.core.celery import app
        ids = {ids!r}
        results = [app.AsyncResult(i).get(timeout=120) for i in ids]
        print(json.dumps(results))
    """)
    assert app_python(app_host, code, timeout=300) == [float(i + 1) for i in range(len(ids))]
