"""Running commands and Python on the lab hosts (Docker containers of inventories/lab)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from typing import Any

REDIS = "matchbot-lab-redis"
WORKERS = ("matchbot-lab-worker-1", "matchbot-lab-worker-2")
APP = "matchbot-lab-app"
APP_PYTHON = "/opt/matchbot/current/venv/bin/python"
# The services' own settings and user: the benchmark exercises what the platform deployed.
APP_ENV = "set -a; . /etc/matchbot/matchbot.env; set +a; unset LOG_DIR; cd /var/lib/matchbot; "


def sh(host: str, command: str, timeout: float = 900, secrets: dict[str, str] | None = None) -> str:
    """Run a shell command on a lab host; its stdout (raises on failure). `secrets` reach the
    command as environment variables (e.g. REDISCLI_AUTH), never on a command line: docker
    exec copies them by name from this process's environment."""
    secrets = secrets or {}
    passed = [arg for name in secrets for arg in ("-e", name)]
    result = subprocess.run(
        ["docker", "exec", *passed, host, "bash", "-c", command],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, **secrets},
    )
    if result.returncode != 0:
        raise RuntimeError(f"{host}: {command[:80]}…: {result.stderr.strip()[-2000:]}")
    return result.stdout


def python(host: str, code: str, timeout: float = 900) -> Any:
    """Run Python in the deployed virtualenv as the service user; the last stdout line is JSON."""
    command = f"{APP_ENV} runuser -u matchbot -- {APP_PYTHON} -c {shlex.quote(code)}"
    return json.loads(sh(host, command, timeout).strip().splitlines()[-1])


def systemctl(hosts: tuple[str, ...], *args: str) -> None:
    for host in hosts:
        sh(host, "systemctl " + " ".join(shlex.quote(a) for a in args))


def wait_for(predicate: Any, timeout: float, interval: float = 0.2) -> float:
    """Seconds until predicate() held; raises on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    raise TimeoutError(f"not reached within {timeout} s")
