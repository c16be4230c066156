"""Drill 12 — after every drill, a check run (--check --diff) runs to the end and predicts no
change, converging again changes nothing, and the Ansible output of a verbose run with diffs
carries no password."""

from __future__ import annotations


def record_run(figures, drill: str, note: str) -> None:
    figures.record(
        "Drill tasks", drill=drill, sent="", completed="", lost="", duplicated="", note=note
    )


def test_a_check_run_predicts_no_change(figures, run_site):
    run = run_site("--check", "--diff")
    changed = run.changed_per_host()
    record_run(
        figures, "12 site.yml --check --diff", f"changed per host: {changed}; {run.seconds:.0f} s"
    )
    assert run.returncode == 0, run.messages() or run.text[-3000:]
    assert changed and not any(changed.values()), changed


def test_converging_after_the_drills_changes_nothing(scenario, figures, run_site):
    run = run_site("-v", "--diff")
    changed = run.changed_per_host()
    leaked = sum(value in run.text for value in scenario.all_secrets())
    record_run(
        figures,
        "12 converge after the drills",
        f"changed per host: {changed}; passwords in output: {leaked}",
    )
    figures.record(
        "Drill 9 - secrets",
        host="controller",
        place="Ansible output (-v --diff, every result)",
        bytes=len(run.text),
        leaked=leaked,
    )
    assert run.returncode == 0, run.text[-3000:]
    assert changed and not any(changed.values()), changed
    assert leaked == 0, "a password appears in the Ansible output"
