"""Tasks through a real broker and a real prefork worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, free_port, wait_until
from openpyxl import Workbook, load_workbook

pytestmark = pytest.mark.usefixtures("worker")


def run(celery_client: Any, task_name: str, /, timeout: float = 30, **kwargs: Any) -> Any:
    """Send a task by name (as the backend does) and wait for its final state."""
    result = celery_client.send_task(task_name, kwargs=kwargs)
    wait_until(lambda: result.state in ("SUCCESS", "FAILURE"), timeout=timeout)
    return result


def assert_still_serving(celery_client: Any) -> None:
    assert run(celery_client, "app.tasks.health.canary").state == "SUCCESS"


@pytest.mark.parametrize(
    ("name", "kwargs", "queue"),
    [
        ("app.tasks.health.check_redis", {}, "default"),
        ("app.tasks.health.arithmetic", {"operation": "sum", "operands": [1, 2, 3.5]}, "default"),
        ("app.tasks.files.parse_upload", {"path": "routing.csv"}, "file_processing"),
        (
            "app.tasks.matching.fuzzy_match",
            {"records": ["Acme"], "candidates": ["ACME Inc"]},
            "ai_matching",
        ),
        ("app.tasks.reports.generate_report", {"name": "routing", "rows": [{"a": 1}]}, "reports"),
        ("app.tasks.cleanup.cleanup_expired", {"max_age_seconds": 999_999}, "cleanup"),
    ],
)
def test_each_task_runs_through_its_own_queue(celery_client, data_dir, worker, name, kwargs, queue):
    (data_dir / "uploads" / "routing.csv").write_text("id,name\n1,Acme\n")
    result = run(celery_client, name, **kwargs)
    assert result.state == "SUCCESS", result.info
    assert result.queue == queue
    assert result.worker == worker


def test_basic_operations(celery_client):
    assert (
        run(
            celery_client, "app.tasks.health.arithmetic", operation="product", operands=[2, 3, 4]
        ).result
        == 24.0
    )


def test_redis_check_round_trips_through_the_cache(celery_client):
    result = run(celery_client, "app.tasks.health.check_redis")
    assert result.result["ok"] is True


def test_long_task_reports_progress(celery_client):
    result = celery_client.send_task(
        "app.tasks.health.long_running", kwargs={"total_steps": 4, "step_seconds": 0.4}
    )
    seen = []

    def finished() -> bool:
        if result.state == "PROGRESS":
            seen.append((result.info["current"], result.info["total"]))
        return result.state == "SUCCESS"

    wait_until(finished, timeout=30, interval=0.05)
    assert seen, "no PROGRESS state observed"
    assert all(total == 4 and 1 <= current <= 4 for current, total in seen)
    assert result.result == {"current": 4, "total": 4}


def test_soft_time_limit_stops_a_long_task_and_the_worker_keeps_serving(celery_client):
    result = run(
        celery_client,
        "app.tasks.health.long_running",
        timeout=60,
        total_steps=100,
        step_seconds=0.5,
    )
    assert result.state == "FAILURE"
    assert type(result.info).__name__ == "SoftTimeLimitExceeded"
    assert "soft time limit reached after step" in str(result.info)
    assert_still_serving(celery_client)


def test_transient_errors_are_retried_with_backoff(celery_client):
    result = run(
        celery_client,
        "app.tasks.health.retry_probe",
        timeout=60,
        probe_id=uuid.uuid4().hex,
        failures=2,
    )
    assert result.state == "SUCCESS", result.info
    assert result.result == {"attempts": 3, "retries": 2}


def test_retries_stop_at_the_limit(celery_client):
    result = run(
        celery_client,
        "app.tasks.health.retry_probe",
        timeout=60,
        probe_id=uuid.uuid4().hex,
        failures=10,
    )
    assert result.state == "FAILURE"
    assert type(result.info).__name__ == "TransientError"
    assert result.retries == 3


def test_a_retry_the_broker_cannot_take_puts_the_task_back(app_env):
    """With the broker away, Celery would fail the task (Reject without requeue); ours requeues
    it. Run as a worker's task would: the publish really goes to a port nothing listens on."""
    outcome = subprocess.run(
        [sys.executable, str(ROOT / "tests/programs/retry_without_broker.py"), str(free_port())],
        env={**os.environ, **app_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert outcome.stdout.strip() == "rejected, requeue=True", outcome.stderr[-2000:]


def test_tally_counts_each_run_of_each_task(celery_client, cache):
    batch = uuid.uuid4().hex
    for index in (0, 1, 1):
        run(celery_client, "app.tasks.health.tally", batch=batch, index=index)
    assert cache.client().hgetall(f"cache:tally:{batch}") == {"0": "1", "1": "2"}


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        (
            "app.tasks.health.arithmetic",
            {"operation": "sum", "operands": ["one"]},
            "operands[0]: Input should be a valid number",
        ),
        (
            "app.tasks.health.arithmetic",
            {"operation": "divide", "operands": [1]},
            "operation: Input should be 'sum', 'product', 'min' or 'max'",
        ),
        (
            "app.tasks.files.parse_upload",
            {"path": "../../etc/passwd.csv"},
            "path must name a file inside the uploads folder",
        ),
        ("app.tasks.files.parse_upload", {"path": "missing.csv"}, "no uploaded file named"),
        (
            "app.tasks.matching.fuzzy_match",
            {"records": "Acme", "candidates": ["x"]},
            "records: Input should be a valid list",
        ),
        (
            "app.tasks.matching.fuzzy_match",
            {"records": ["x" * 5000], "candidates": ["x"]},
            "is longer than",
        ),
        (
            "app.tasks.reports.generate_report",
            {"name": "../evil", "rows": [{"a": 1}]},
            "name: String should match pattern",
        ),
        (
            "app.tasks.health.long_running",
            {"total_steps": True},
            "total_steps: Input should be a valid integer",
        ),
    ],
)
def test_bad_input_fails_at_once_with_its_message(celery_client, name, kwargs, message):
    result = run(celery_client, name, **kwargs)
    assert result.state == "FAILURE"
    assert type(result.info).__name__ == "InvalidInput"
    assert message in str(result.info)
    assert result.retries == 0
    assert_still_serving(celery_client)


def test_parse_csv_upload(celery_client, data_dir):
    (data_dir / "uploads" / "people.csv").write_text("id;name;city\n1;Ann;Oslo\n2;Bo;Rome\n")
    result = run(celery_client, "app.tasks.files.parse_upload", path="people.csv").result
    assert result["rows"] == 2
    assert result["columns"] == ["id", "name", "city"]
    assert result["preview"][1] == ["2", "Bo", "Rome"]


def test_parse_xlsx_upload(celery_client, data_dir):
    workbook = Workbook()
    sheet = workbook.active
    for row in (["sku", "qty"], ["A-1", 3], ["B-2", 5], ["C-3", 8]):
        sheet.append(row)
    workbook.save(data_dir / "uploads" / "stock.xlsx")
    result = run(celery_client, "app.tasks.files.parse_upload", path="stock.xlsx").result
    assert result["rows"] == 3
    assert result["columns"] == ["sku", "qty"]


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("broken.xlsx", b"this is not a zip archive", "broken XLSX file"),
        ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n", "different number of columns"),
        ("latin1.csv", "name\nJos\xe9\n".encode("latin-1"), "not UTF-8"),
        ("empty.csv", b"", "holds no rows"),
    ],
)
def test_broken_uploads_fail_with_a_clear_error(
    celery_client, data_dir, filename, content, message
):
    (data_dir / "uploads" / filename).write_bytes(content)
    result = run(celery_client, "app.tasks.files.parse_upload", path=filename)
    assert result.state == "FAILURE"
    assert message in str(result.info)


def test_fuzzy_matching(celery_client):
    result = run(
        celery_client,
        "app.tasks.matching.fuzzy_match",
        records=["ACME Corporation", "Globex Ltd.", "Nothing Alike"],
        candidates=["Acme Corp.", "Globex Limited", "Initech"],
        threshold=70,
    ).result
    matches = {m["record"]: m["match"] for m in result["matches"]}
    assert matches["ACME Corporation"] == "Acme Corp."
    assert matches["Globex Ltd."] == "Globex Limited"
    assert matches["Nothing Alike"] is None
    assert (result["matched"], result["unmatched"]) == (2, 1)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_reports_are_written(celery_client, data_dir, fmt):
    rows = [{"sku": "A-1", "qty": 3}, {"sku": "B-2", "qty": 5, "note": "late"}]
    result = run(
        celery_client, "app.tasks.reports.generate_report", name="stock", rows=rows, fmt=fmt
    ).result
    path = data_dir / "reports" / result["path"]
    assert result["columns"] == ["sku", "qty", "note"]
    if fmt == "csv":
        assert path.read_text().splitlines() == ["sku,qty,note", "A-1,3,", "B-2,5,late"]
    else:
        sheet = load_workbook(path, read_only=True).active
        assert [list(r) for r in sheet.iter_rows(values_only=True)][2] == ["B-2", 5, "late"]


def test_cleanup_removes_expired_files_and_idle_cache_keys(celery_client, data_dir, cache):
    old, new = data_dir / "uploads" / "old.csv", data_dir / "uploads" / "new.csv"
    for path in (old, new):
        path.write_text("a\n1\n")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    admin = cache.client()
    admin.set("cache:stale", "x")
    admin.set("cache:fresh-with-ttl", "x", ex=600)

    by_age = run(celery_client, "app.tasks.cleanup.cleanup_expired", max_age_seconds=86400)
    assert by_age.result["files_removed"] >= 1
    assert not old.exists()
    assert new.exists()

    run(celery_client, "app.tasks.cleanup.cleanup_expired", max_age_seconds=0)
    assert admin.exists("cache:stale") == 0
    assert admin.exists("cache:fresh-with-ttl") == 1


def test_worker_writes_its_log_file(settings):
    log = Path(settings.log_dir) / "worker.log"
    assert wait_until(lambda: log.exists() and "ready" in log.read_text())
