"""TASK_LOGS: a worker group of short tasks can drop the line per received and per succeeded
task (two per task, about a tenth of such a worker's time) and keep retries and failures."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

PROGRAM = ROOT / "tests" / "programs" / "task_logs.py"


def logged(task_logs: str) -> str:
    env = {**os.environ, "TASK_LOGS": task_logs, "LOG_LEVEL": "INFO"}
    env.pop("LOG_DIR", None)
    done = subprocess.run(
        [sys.executable, str(PROGRAM)], cwd=ROOT, env=env, capture_output=True, check=True
    )
    return done.stderr.decode()


def test_each_task_is_logged_by_default() -> None:
    lines = logged("each")
    for fragment in ("received", "succeeded in", "retry:", "raised"):
        assert fragment in lines


def test_problems_keeps_retries_and_failures_only() -> None:
    lines = logged("problems")
    assert "received" not in lines
    assert "succeeded in" not in lines
    assert "retry: TransientError" in lines
    assert "ERROR" in lines and "raised: TransientError" in lines


def test_task_logs_is_each_or_problems() -> None:
    env = {**os.environ, "TASK_LOGS": "none"}
    done = subprocess.run(
        [sys.executable, str(PROGRAM)], cwd=ROOT, env=env, capture_output=True, check=False
    )
    assert done.returncode != 0
    assert b"task_logs" in done.stderr


@pytest.fixture(autouse=True)
def _app_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
