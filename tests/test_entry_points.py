"""Importing the app does nothing: no Celery app, no transport registered, no Sentry, no
logging set up. Processes do that in their entry points (app.main, app.api.main.create_app)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_importing_every_module_has_no_side_effect() -> None:
    env = {**os.environ, "SENTRY_DSN": "https://public@sentry.invalid/1"}
    outcome = subprocess.run(
        [sys.executable, str(ROOT / "tests/programs/import_everything.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert "app.core.celery" in found["modules"] and "app.api.main" in found["modules"]
    assert found == {
        "modules": found["modules"],
        "celery_apps": 0,
        "transport_aliases_changed": False,
        "logging_changed": False,
        "sentry_active": False,
    }


def test_the_celery_entry_point_runs_celery_with_the_app() -> None:
    """`matchbot report` is `celery report` with the app built from the environment."""
    outcome = subprocess.run(
        [sys.executable, "-m", "app.main", "report"],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": "redis://localhost:1/0"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "include: ['app.tasks.health'" in outcome.stdout
    assert "results:redis://localhost:1/0" in outcome.stdout
