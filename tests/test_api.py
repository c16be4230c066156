"""The FastAPI backend against the real Redis servers and worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import API_HEADERS, API_TOKEN, RedisServer, api_clients_file, start_redis, wait_until
from fastapi.testclient import TestClient

from app.api.auth import ClientsFileError
from app.api.main import create_app
from app.core.config import Settings


def client_for(settings: Settings, headers: dict[str, str] | None = API_HEADERS) -> TestClient:
    """The API as the tests' client (its token), or anonymous with headers=None."""
    return TestClient(create_app(settings), headers=headers)


@pytest.fixture(scope="module")
def api(settings: Settings) -> TestClient:
    return client_for(settings)


@pytest.fixture(scope="module")
def idle_redis(workdir: Any) -> Iterator[RedisServer]:
    """A Redis no worker listens to (development mode: no ACL)."""
    server = start_redis("idle", workdir / "idle", None, ["--save", ""])
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def secrets_of(*servers: RedisServer) -> list[str]:
    return [password for server in servers for password in server.passwords.values()]


def assert_no_secret(response: Any, secrets: list[str]) -> None:
    text = response.text
    assert "redis://" not in text
    for secret in secrets:
        assert secret not in text


def test_redis_health_ok_reports_aof(api, broker, cache):
    response = api.get("/health-check/redis")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["broker"]["aof_enabled"] is True
    assert body["broker"]["aof_last_write_status"] == "ok"
    assert body["cache"]["ok"] is True
    assert_no_secret(response, secrets_of(broker, cache))


def test_redis_health_503_when_the_broker_is_down(settings, broker, cache):
    from conftest import free_port

    down = settings.model_copy(
        update={"redis_monitor_url": f"redis://monitor:pw-{free_port()}@127.0.0.1:{free_port()}/0"}
    )
    response = client_for(down).get("/health-check/redis")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"]["ok"] is False
    assert "Connection" in body["broker"]["reason"]
    assert body["cache"]["ok"] is True
    assert_no_secret(response, [*secrets_of(broker, cache), "pw-"])


def test_redis_health_503_on_a_wrong_password(settings, broker, cache):
    wrong = settings.model_copy(
        update={"cache_url": f"redis://app:not-the-password-42@127.0.0.1:{cache.port}/0"}
    )
    response = client_for(wrong).get("/health-check/redis")
    assert response.status_code == 503
    assert response.json()["cache"]["reason"] == "authentication failed"
    assert_no_secret(response, [*secrets_of(broker, cache), "not-the-password-42"])


def test_celery_health_ok_with_a_real_round_trip(api, worker, broker, cache):
    response = api.get("/health-check/celery")
    assert response.status_code == 200, response.text
    body = response.json()
    assert worker in body["workers"]["names"]
    assert body["canary"]["worker"] == worker
    assert body["canary"]["round_trip_ms"] > 0
    assert_no_secret(response, secrets_of(broker, cache))


def test_celery_health_503_when_no_worker_serves_the_broker(idle_redis):
    url = f"redis://127.0.0.1:{idle_redis.port}/0"
    lonely = Settings(redis_url=url, cache_url=url, celery_health_timeout_seconds=1)
    response = client_for(lonely).get("/health-check/celery")
    assert response.status_code == 503
    body = response.json()
    assert "no worker answered" in body["workers"]["reason"]
    assert body["canary"]["ok"] is False


def test_celery_health_503_when_the_broker_is_down(settings):
    from conftest import free_port

    down = settings.model_copy(update={"redis_url": f"redis://celery:pw@127.0.0.1:{free_port()}/0"})
    response = client_for(down).get("/health-check/celery")
    assert response.status_code == 503
    assert response.json()["workers"]["reason"].startswith("broker unreachable")
    assert_no_secret(response, ["celery:pw"])


def poll(api: TestClient, task_id: str, until: tuple[str, ...] = ("SUCCESS", "FAILURE")) -> Any:
    return wait_until(
        lambda: (body := api.get(f"/tasks/{task_id}").json())["state"] in until and body,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("kind", "body", "queue"),
    [
        ("check-redis", {}, "default"),
        ("arithmetic", {"operation": "max", "operands": [3, 9, 4]}, "default"),
        (
            "fuzzy-match",
            {"records": ["Acme"], "candidates": ["ACME Inc", "Initech"]},
            "ai_matching",
        ),
        ("report", {"name": "api", "rows": [{"a": 1}], "fmt": "xlsx"}, "reports"),
        ("cleanup", {"max_age_seconds": 999_999}, "cleanup"),
    ],
)
def test_submit_each_task_and_read_its_result(api, worker, broker, cache, kind, body, queue):
    submitted = api.post(f"/tasks/{kind}", json=body)
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["queue"] == queue
    final = poll(api, submitted.json()["task_id"])
    assert final["state"] == "SUCCESS", final
    assert "result" in final


def test_parse_upload_over_http(api, worker, data_dir):
    (data_dir / "uploads" / "api.csv").write_text("a,b\n1,2\n")
    task_id = api.post("/tasks/parse-upload", json={"path": "api.csv"}).json()["task_id"]
    assert poll(api, task_id)["result"]["rows"] == 1


def test_progress_is_readable_over_http(api, worker):
    task_id = api.post("/tasks/long-running", json={"total_steps": 5, "step_seconds": 0.4}).json()[
        "task_id"
    ]
    progress = poll(api, task_id, until=("PROGRESS",))["progress"]
    assert progress["total"] == 5
    assert 1 <= progress["current"] <= 5
    assert poll(api, task_id)["state"] == "SUCCESS"


def test_task_failure_is_reported_with_its_message(api, worker):
    task_id = api.post("/tasks/parse-upload", json={"path": "../outside.csv"}).json()["task_id"]
    final = poll(api, task_id)
    assert final["state"] == "FAILURE"
    assert final["error"]["type"] == "InvalidInput"
    assert "inside the uploads folder" in final["error"]["message"]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("arithmetic", {"operation": "sum", "operands": "1,2"}),
        ("arithmetic", {"operation": "sum", "operands": [1], "extra": True}),
        ("long-running", {"total_steps": 0}),
        ("report", {"name": "../x", "rows": [{"a": 1}]}),
        ("fuzzy-match", {"records": [], "candidates": ["x"]}),
    ],
)
def test_bad_requests_are_refused_before_queueing(api, kind, body):
    response = api.post(f"/tasks/{kind}", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_unknown_task_kind_and_bad_ids_are_refused(api):
    assert api.post("/tasks/format-disk", json={}).status_code == 422
    assert api.get("/tasks/not-a-uuid").status_code == 422


@pytest.mark.parametrize(("limit", "items", "status"), [(20_000, 15_000, 202), (5, 6, 422)])
def test_task_limits_over_http_follow_the_settings(settings, limit, items, status):
    """MAX_MATCH_ITEMS is read where the worker reads it (the task's argument model): raising
    it raises what the API accepts, lowering it lowers it."""
    api = client_for(settings.model_copy(update={"max_match_items": limit}))
    body = {"records": [f"r{i}" for i in range(items)], "candidates": ["r1"]}
    response = api.post("/tasks/fuzzy-match", json=body)
    assert response.status_code == status, response.text[:300]
    if status == 422:
        assert response.json()["detail"] == [
            {"field": "records", "problem": f"must hold 1 to {limit} strings, got {items}"}
        ]


TASK_ROUTES = [
    ("POST", "/tasks/cleanup", {}),
    ("POST", "/tasks/report", {"rows": 10}),
    ("POST", "/tasks/parse-upload", {"filename": "x.csv"}),
    ("GET", "/tasks/0b6f4f3e-8a1f-4f55-9d7e-2f0f7b1c5d00", None),
]
BAD_CREDENTIALS = {
    "none": {},
    "wrong token": {"Authorization": "Bearer " + "x" * len(API_TOKEN)},
    "token's prefix": {"Authorization": "Bearer " + API_TOKEN[:-1]},
    "basic scheme": {"Authorization": f"Basic {API_TOKEN}"},
    "empty bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize("headers", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
@pytest.mark.parametrize(("method", "path", "body"), TASK_ROUTES, ids=[r[1] for r in TASK_ROUTES])
def test_the_task_api_refuses_missing_or_wrong_credentials_alike(
    settings, broker, caplog, headers, method, path, body
):
    """401 and the same answer whatever was wrong, nothing queued, and the refusal logged
    without what was presented."""
    queued = broker.client().llen("default")
    with caplog.at_level("WARNING", logger="app.api.auth"):
        response = client_for(settings, headers=headers).request(method, path, json=body)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert broker.client().llen("default") == queued
    refusals = [r.getMessage() for r in caplog.records if r.name == "app.api.auth"]
    assert len(refusals) == 1 and path in refusals[0], refusals
    presented = headers.get("Authorization", "").partition(" ")[2]
    assert not presented or presented not in refusals[0]


def test_a_clients_token_is_accepted_and_its_name_logged(settings, worker, caplog):
    with caplog.at_level("INFO", logger="app.api.tasks"):
        response = client_for(settings).post(
            "/tasks/arithmetic", json={"operation": "sum", "operands": [2, 3]}
        )
    assert response.status_code == 202, response.text
    assert any("for client tests" in r.getMessage() for r in caplog.records)
    assert not any(API_TOKEN in r.getMessage() for r in caplog.records)


def test_without_a_clients_file_every_task_request_is_refused(settings, workdir):
    closed = settings.model_copy(update={"api_clients_file": workdir / "no-such-file"})
    assert client_for(closed).post("/tasks/cleanup", json={}).status_code == 401


def test_a_malformed_clients_file_stops_the_backend_with_the_line(settings, workdir):
    bad = workdir / "bad-api-clients"
    bad.write_text(f"tests {'0' * 64}\nthe token itself\n")
    with pytest.raises(ClientsFileError, match="bad-api-clients:2"):
        create_app(settings.model_copy(update={"api_clients_file": bad}))
    assert api_clients_file(workdir).exists()


def test_health_says_only_ok_and_why_to_anonymous_callers(settings, worker, broker, cache):
    anonymous = client_for(settings, headers=None)
    redis_check = anonymous.get("/health-check/redis")
    assert redis_check.status_code == 200
    assert redis_check.json() == {"status": "ok", "broker": {"ok": True}, "cache": {"ok": True}}
    celery_check = anonymous.get("/health-check/celery")
    assert celery_check.json() == {"status": "ok", "workers": {"ok": True}, "canary": {"ok": True}}
    down = settings.model_copy(
        update={"cache_url": f"redis://app:not-the-password-42@127.0.0.1:{cache.port}/0"}
    )
    failing = client_for(down, headers=None).get("/health-check/redis")
    assert failing.status_code == 503
    assert failing.json()["cache"] == {"ok": False, "reason": "authentication failed"}
    detailed = client_for(settings).get("/health-check/redis").json()
    assert detailed["broker"]["aof_enabled"] is True and "latency_ms" in detailed["cache"]


def test_production_serves_no_api_schema_or_docs(settings):
    anonymous = client_for(settings, headers=None)
    assert [anonymous.get(path).status_code for path in ("/openapi.json", "/docs")] == [404, 404]
