"""The lab hosts: systemd containers on this machine, reached with `docker exec`.

Secrets reach commands as environment variables copied by name (`docker exec -e NAME`), never
on a command line, here or on the host.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping

# Our units on a host, by the inventory group that puts them there. Worker units come from
# the worker groups (see `worker_units`).
UNITS_BY_GROUP = {
    "redis": ("redis-server@broker", "redis-server@cache"),
    "beat": ("matchbot-beat",),
    "flower": ("matchbot-flower",),
    "backend": ("matchbot-backend",),
}


def run(
    container: str,
    command: str,
    *,
    secrets: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[bytes]:
    """`command` under bash on a lab host; `secrets` become its environment variables."""
    secrets = dict(secrets or {})
    passed = [arg for name in secrets for arg in ("-e", name)]
    interactive = ["-i"] if stdin is not None else []
    return subprocess.run(
        ["docker", "exec", *interactive, *passed, container, "bash", "-c", command],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=timeout,
        env={**os.environ, **secrets},
    )


def sh(container: str, command: str, **options: object) -> str:
    """Stdout of `command` on a lab host; RuntimeError with its stderr when it fails."""
    result = run(container, command, **options)  # type: ignore[arg-type]
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace").strip()[-2000:]
        raise RuntimeError(f"{container}: {command[:80]}: {error}")
    return result.stdout.decode()


def docker(*args: str) -> None:
    """A docker command on the lab's engine (stop/start a host, detach it from its network)."""
    subprocess.run(["docker", *args], check=True, capture_output=True)


def systemctl(containers: list[str] | tuple[str, ...], *args: str) -> None:
    for container in containers:
        sh(container, shlex.join(["systemctl", *args]))


def systemd_property(container: str, unit: str, name: str) -> str:
    return sh(container, shlex.join(["systemctl", "show", "-p", name, "--value", unit])).strip()


def main_pid(container: str, unit: str) -> int:
    return int(systemd_property(container, unit, "MainPID"))


def restarts(container: str, unit: str) -> int:
    return int(systemd_property(container, unit, "NRestarts"))


def worker_units(groups: list[dict[str, object]]) -> tuple[str, ...]:
    return tuple(f"matchbot-worker-{group['name']}" for group in groups)


def units_of(host_groups: list[str], worker_groups: list[dict[str, object]]) -> tuple[str, ...]:
    """The units we ship on a host in these inventory groups."""
    units = [unit for group in host_groups for unit in UNITS_BY_GROUP.get(group, ())]
    if "workers" in host_groups:
        units += worker_units(worker_groups)
    return tuple(units)
