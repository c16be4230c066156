"""Drill 12 — after every drill, converging again changes nothing, and the Ansible output of a
verbose run with diffs carries no password."""

from __future__ import annotations

from conftest import all_secrets, changed_per_host, record, run_site


def test_converging_after_the_drills_changes_nothing():
    run = run_site("-v", "--diff")
    output = run.stdout + run.stderr
    changed = changed_per_host(output)
    leaked = sum(value in output for value in all_secrets())
    record(
        "Drill tasks",
        drill="12 converge after the drills",
        sent="",
        completed="",
        lost="",
        duplicated="",
        note=f"changed per host: {changed}; passwords in output: {leaked}",
    )
    record(
        "Drill 9 - secrets",
        host="controller",
        place="Ansible output (-v --diff)",
        bytes=len(output),
        leaked=leaked,
    )
    assert run.returncode == 0, output[-3000:]
    assert changed and not any(changed.values()), changed
    assert leaked == 0, "a password appears in the Ansible output"
