"""ansible-playbook runs, read through Ansible's json callback instead of its text."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    seconds: float
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        """The json callback's document: plays, tasks with per-host results, stats."""
        # With -v… Ansible's own messages come first on stdout; the document is last, from
        # its opening brace alone on a line.
        start = 0 if self.stdout.startswith("{") else self.stdout.rfind("\n{\n") + 1
        try:
            parsed: dict[str, Any] = json.loads(self.stdout[start:])
        except json.JSONDecodeError:
            return {"plays": [], "stats": {}}
        return parsed

    @property
    def text(self) -> str:
        """Everything the run printed (for messages and for leaks)."""
        return self.stdout + self.stderr

    def changed_per_host(self) -> dict[str, int]:
        return {host: stats["changed"] for host, stats in self.report["stats"].items()}

    def failed_hosts(self) -> list[str]:
        stats = self.report["stats"].items()
        return [host for host, s in stats if s.get("failures") or s.get("unreachable")]

    def outcomes(self, task: str) -> list[str]:
        """Per host, per run of the task named `task` (`role : name` inside a role):
        changed, ok, skipped or failed."""
        found = []
        for play in self.report["plays"]:
            for entry in play["tasks"]:
                if entry["task"]["name"] != task:
                    continue
                for result in entry["hosts"].values():
                    found.append(outcome(result))
        return found

    def refused_before_any_change(self) -> bool:
        """Failed, and no host changed (the preflight stopped it)."""
        changed = self.changed_per_host()
        return self.returncode != 0 and bool(changed) and not any(changed.values())

    def names(self, fragment: str) -> bool:
        """A failed task's message contains `fragment`."""
        return any(fragment in text for text in self.messages())

    def messages(self) -> list[str]:
        """The `msg` of every failed task result, loop items included."""
        found = []
        for play in self.report["plays"]:
            for entry in play["tasks"]:
                for result in entry["hosts"].values():
                    found += failure_messages(result)
        return found


def failure_messages(result: dict[str, Any]) -> list[str]:
    if not result.get("failed"):
        return []
    found = [str(result.get("msg", ""))]
    for item in result.get("results", []):
        found += failure_messages(item)
    return found


def outcome(result: dict[str, Any]) -> str:
    if result.get("failed"):
        return "failed"
    if result.get("skipped"):
        return "skipped"
    return "changed" if result.get("changed") else "ok"


def run_playbook(
    playbook: str | Path, inventory: str | Path, *args: str, timeout: float = 900
) -> PlaybookRun:
    """ansible-playbook with the json callback; never raises for a failed play."""
    env = {
        **os.environ,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    started = time.monotonic()
    run = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(playbook), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
    )
    return PlaybookRun(run.returncode, time.monotonic() - started, run.stdout, run.stderr)
