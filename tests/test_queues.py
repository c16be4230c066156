"""Adding a queue is one change to app/core/queues.py (plus a worker group that consumes it):
the routing, the worker role's checks and the Celery user's Redis ACL follow from the app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from app.core.manifest import manifest
from app.core.queues import ALL_QUEUES

NEW_QUEUE = "urgent"
ROUTE = "app.tasks.matching.fuzzy_match"


@pytest.fixture(scope="module")
def checkout_with_a_sixth_queue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the app where app/core/queues.py alone changed: a new queue, and the matching
    tasks routed to it."""
    project = tmp_path_factory.mktemp("sixth-queue")
    shutil.copytree(ROOT / "app", project / "app", ignore=shutil.ignore_patterns("__pycache__"))
    queues = project / "app" / "core" / "queues.py"
    text = queues.read_text()
    text = text.replace(
        '    CLEANUP = "cleanup"\n', f'    CLEANUP = "cleanup"\n    URGENT = "{NEW_QUEUE}"\n'
    )
    text = text.replace(
        '"app.tasks.matching": QueueName.AI_MATCHING', '"app.tasks.matching": QueueName.URGENT'
    )
    assert text != queues.read_text()
    queues.write_text(text)
    return project


def in_checkout(project: Path, program: str, *args: str) -> object:
    """What tests/programs/<program> prints, run with the app of `project`."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "programs" / program), *args],
        env={**os.environ, "PYTHONPATH": str(project)},
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


def test_every_key_of_every_queue_is_covered_by_the_manifest() -> None:
    patterns = manifest()["broker_key_patterns"]
    for queue in ALL_QUEUES:
        for key in (queue, f"{queue}\x06\x163", f"{queue}\x06\x16wake"):
            assert any(key.startswith(p.rstrip("*")) for p in patterns), key


def test_the_new_queue_is_routed_and_declared(checkout_with_a_sixth_queue: Path) -> None:
    found = in_checkout(checkout_with_a_sixth_queue, "routes.py", ROUTE)
    assert found == [NEW_QUEUE, [*ALL_QUEUES, NEW_QUEUE]]


def test_the_worker_checks_and_the_celery_acl_follow(
    checkout_with_a_sixth_queue: Path, tmp_path: Path
) -> None:
    """The playbook the preflight's pieces run in, with a worker group on the new queue: the
    worker role accepts it and the Celery user may use its keys."""
    groups = [{"name": "cpu", "queues": ["default"]}, {"name": NEW_QUEUE, "queues": [NEW_QUEUE]}]
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(ROOT / "inventories" / "lab"),
            str(ROOT / "tests" / "ansible" / "queue-wiring.yml"),
            "-e",
            json.dumps(
                {
                    "matchbot_project_dir": str(checkout_with_a_sixth_queue),
                    "celery_worker_groups": groups,
                    "app_deploy_app_settings": {"task_time_limit": 1800},
                    "matchbot_secrets_dir": str(tmp_path / "secrets"),
                    # localhost stands in for a standalone Redis host.
                    "matchbot_redis_ha": False,
                    "matchbot_private_address": "127.0.0.1",
                }
            ),
        ],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    printed = json.loads(run.stdout)["plays"][0]["tasks"][-1]["hosts"]["localhost"]["msg"]
    assert NEW_QUEUE in printed["queues"]
    assert f"~{NEW_QUEUE}*" in printed["celery_acl_rules"]
