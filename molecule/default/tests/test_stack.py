"""The deployed platform, end to end, by behaviour: workers, queues, health, Flower, faults."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap

import pytest
from conftest import (
    APP_HOST,
    EXPECTED_WORKERS,
    WORKER_GROUP_QUEUES,
    WORKER_HOSTS,
    active_queues,
    address,
    app_python,
    ephemeral_dir,
    http_get,
    main_pid,
    restarts,
    run_task,
    secret,
    wait_until,
)

UNITS_BY_GROUP = {
    "redis": ["redis-server@broker", "redis-server@cache"],
    "workers": ["matchbot-worker-cpu", "matchbot-worker-io"],
    "app": ["matchbot-beat", "matchbot-flower", "matchbot-backend"],
}
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


def units_of(host) -> list[str]:
    groups = host.ansible.get_variables()["group_names"]
    return [unit for group, units in UNITS_BY_GROUP.items() if group in groups for unit in units]


def test_every_service_runs_and_is_enabled(host):
    for unit in units_of(host):
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit


def test_every_app_unit_is_sandboxed(host):
    for unit in units_of(host):
        out = host.run(f"systemd-analyze security --no-pager {unit}.service").stdout
        exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)[1])
        assert exposure <= 2.0, f"{unit}: exposure {exposure}"


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


def test_app_services_listen_only_where_configured(app_host):
    listening = app_host.run("ss -Hltn").stdout.split("\n")
    sockets = {line.split()[3] for line in listening if line.strip()}
    own = address(app_host)
    assert {f"{own}:8000", f"{own}:5555"} <= sockets
    assert not any(s.endswith((":8000", ":5555")) and not s.startswith(own) for s in sockets)


def test_every_service_runs_as_its_own_non_root_user(host):
    expected = {"redis-server": "redis"}
    for unit in units_of(host):
        pid = main_pid(host, f"{unit}.service")
        user = host.run(f"ps -o user= -p {pid}").stdout.strip()
        assert user == expected.get(unit.split("@")[0], "matchbot"), unit


def test_worker_restarts_after_sigkill_and_registers_again(app_host, worker_hosts):
    worker, unit = worker_hosts[0], "matchbot-worker-cpu.service"
    node = f"cpu@{WORKER_HOSTS[0]}"
    pid, count = main_pid(worker, unit), restarts(worker, unit)
    assert worker.run(f"systemctl kill --kill-whom=main --signal=SIGKILL {unit}").rc == 0
    assert wait_until(lambda: main_pid(worker, unit) not in (0, pid), timeout=60)
    assert restarts(worker, unit) > count
    assert wait_until(lambda: node in active_queues(app_host), timeout=60)


def test_workers_resume_after_redis_restarts(app_host, redis_host):
    assert redis_host.run("systemctl restart redis-server@broker").rc == 0
    for _ in range(4):
        outcome = run_task(app_host, "app.tasks.health.canary", timeout=90)
        assert outcome["state"] == "SUCCESS", outcome
    assert wait_until(lambda: active_queues(app_host) == EXPECTED_WORKERS, timeout=60)


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


def test_warm_stop_lets_the_running_task_finish(app_host, worker_hosts):
    code = textwrap.dedent("""
        import json, time
        from app.core.celery import app
        r = app.send_task("app.tasks.health.long_running",
                          kwargs={"total_steps": 8, "step_seconds": 1})
        deadline = time.monotonic() + 60
        while r.state != "PROGRESS" and time.monotonic() < deadline:
            time.sleep(0.1)
        print(json.dumps({"id": r.id, "state": r.state, "worker": r.worker}))
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
        assert finished == {"state": "SUCCESS", "result": {"current": 8, "total": 8}}
    finally:
        worker.run(f"systemctl start {unit}")


def test_no_secret_in_process_lists_journals_or_logs(host):
    secrets = [secret(f"redis-{user}") for user in ("celery", "flower", "monitor", "app", "admin")]
    secrets.append(secret("flower-admin"))
    places = {
        "process list": "ps -eo args",
        "journal": "journalctl --no-pager -o cat",
        "log files": "cat /var/log/matchbot/*.log /var/log/redis/*.log 2>/dev/null",
    }
    for place, command in places.items():
        text = host.run(command).stdout
        assert text, place
        for value in secrets:
            assert value not in text, f"a password appears in the {place}"


def test_secret_files_are_not_world_readable(host):
    for path in (
        "/etc/matchbot/matchbot.env",
        "/etc/matchbot/flower.env",
        "/etc/redis/users-broker.acl",
        "/etc/redis/users-cache.acl",
    ):
        file = host.file(path)
        if file.exists:
            assert file.mode & 0o007 == 0, path


@pytest.mark.parametrize("beat_hosts", [[], [APP_HOST, WORKER_HOSTS[0]]])
def test_site_refuses_zero_or_several_beat_hosts(beat_hosts, tmp_path):
    inventory = {
        "all": {
            "children": {
                "redis": {"hosts": {"matchbot-molecule-redis": None}},
                "workers": {"hosts": dict.fromkeys(WORKER_HOSTS)},
                "beat": {"hosts": dict.fromkeys(beat_hosts)},
            }
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps(inventory))
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(path),
            os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "site.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "exactly one in 'beat'" in output, output
    assert "changed=" not in output or "changed=0" in output


def test_zz_tasks_queued_while_workers_are_stopped(app_host, worker_hosts):
    """Stops every worker and queues tasks; tests_after_restart checks they ran after the
    restart of every host."""
    for worker in worker_hosts:
        assert worker.run("systemctl stop matchbot-worker-cpu matchbot-worker-io").rc == 0
    code = textwrap.dedent("""
        import json
        from app.core.celery import app
        ids = [app.send_task("app.tasks.health.arithmetic",
                             kwargs={"operation": "sum", "operands": [i, 1]}).id
               for i in range(50)]
        print(json.dumps(ids))
    """)
    ids = app_python(app_host, code)
    (ephemeral_dir() / "queued-before-restart.json").write_text(json.dumps(ids))
    states = app_python(
        app_host,
        textwrap.dedent(f"""
        import json
        from app.core.celery import app
        print(json.dumps(sorted({{app.AsyncResult(i).state for i in {ids!r}}})))
    """),
    )
    assert states == ["PENDING"]
