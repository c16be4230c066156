"""Drill 13 — no anonymous task API. Every /tasks route answers 401 without a client's token
or with a wrong one (the same answer either way, the refusal logged without what was sent), a
client's token runs a task end to end, and a client removed from the inventory is refused
after the next site.yml, which restarts the backend and nothing else."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import yaml

from labkit import hosts
from labkit.hosts import main_pid
from labkit.waiting import poll, wait_until

ROUTES = [
    ("POST", "/tasks/cleanup", {}),
    ("POST", "/tasks/report", {"rows": 10}),
    ("POST", "/tasks/parse-upload", {"filename": "x.csv"}),
    ("GET", f"/tasks/{uuid.uuid4()}", None),
]
REFUSED = {"detail": "Not authenticated"}
BACKEND_LOG = "/var/log/matchbot/backend.log"


def submit(scenario, token: str | None) -> tuple[int, str]:
    body = {"operation": "sum", "operands": [1, 2]}
    return scenario.http.post(scenario.backend_url("/tasks/arithmetic"), body, token=token)


def test_every_task_route_refuses_a_missing_or_wrong_token_alike(scenario, figures):
    wrong = secrets.token_hex(20)
    for method, path, body in ROUTES:
        for label, token in (("no token", None), ("wrong token", wrong)):
            status, text = scenario.http.request(
                method, scenario.backend_url(path), token=token, body=body
            )
            figures.record("Drill 13 - task API", attempt=f"{method} {path}, {label}", reply=status)
            assert status == 401 and json.loads(text) == REFUSED, (path, label, text)
    log = hosts.sh(scenario.app_host, f"cat {BACKEND_LOG}")
    assert "task API: refused POST /tasks/cleanup" in log
    assert wrong not in log


def test_a_clients_token_runs_a_task_end_to_end(scenario):
    token = scenario.api_token
    status, text = submit(scenario, token)
    assert status == 202, text
    url = scenario.backend_url(f"/tasks/{json.loads(text)['task_id']}")

    def result() -> object:
        code, reply = scenario.http.get(url, token=token)
        body = json.loads(reply)
        return code == 200 and body["state"] == "SUCCESS" and body["result"]

    assert poll(result, timeout=60) == 3


def test_a_revoked_client_is_refused_after_the_next_site_run(scenario, run_site, tmp_path, figures):
    operator, drill = scenario.api_token, secrets.token_hex(20)
    clients = Path(tmp_path) / "clients.yml"
    clients.touch(mode=0o600)
    clients.write_text(
        yaml.safe_dump({"matchbot_api_tokens": {"operator": operator, "drill": drill}})
    )
    app = scenario.app_host
    limit = ("--limit", app)
    added = run_site(*limit, "-e", f"@{clients}")
    assert added.returncode == 0, added.messages() or added.text[-3000:]
    assert wait_until(lambda: submit(scenario, drill)[0] == 202, timeout=60)

    before = {unit: main_pid(app, f"{unit}.service") for unit in scenario.units_of(app)}
    revoked = run_site(*limit)  # the inventory's clients: `drill` is not one
    assert revoked.returncode == 0, revoked.messages() or revoked.text[-3000:]
    after = {unit: main_pid(app, f"{unit}.service") for unit in scenario.units_of(app)}
    restarted = sorted(unit for unit in before if before[unit] != after[unit])
    assert wait_until(lambda: submit(scenario, operator)[0] == 202, timeout=60)
    status, text = submit(scenario, drill)
    figures.record(
        "Drill 13 - task API",
        attempt="revoked client after site.yml",
        reply=status,
        note=f"restarted: {restarted}",
    )
    assert status == 401 and json.loads(text) == REFUSED
    assert restarted == ["matchbot-backend"]
    for run in (added, revoked):
        assert operator not in run.text and drill not in run.text
