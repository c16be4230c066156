"""Drill HA-6 — after the failovers the primary is no longer the inventory's initial primary.
Running site.yml again changes nothing, keeps the primary where the Sentinels put it (it never
moves it back), and every instance stays a replica of it. Run with -vvv, it prints no password:
the commands that ask Redis and the Sentinels pass theirs on standard input (the environment
keyword would put it on the module's command line, in `ps` and in -vvv's EXEC lines)."""

from __future__ import annotations

import json

from labkit import replication


def test_site_yml_after_failovers_changes_nothing_and_keeps_the_primary(
    scenario, figures, run_site
):
    initial = scenario.redis_hosts[0]  # redis_initial_primary's default
    at_initial = [
        master.removeprefix("matchbot-")
        for master, _ in replication.INSTANCES
        if replication.primary_host(scenario, master) == initial
    ]
    if at_initial:
        extra = json.dumps({"redis_switchover_instances": at_initial})
        moved = run_site("-e", extra, playbook="playbooks/redis-switchover.yml")
        assert moved.returncode == 0, moved.messages() or moved.text[-3000:]
    primaries = {m: replication.primary_host(scenario, m) for m, _ in replication.INSTANCES}

    run = run_site("-vvv", "--diff")
    changed = run.changed_per_host()
    leaked = sum(secret in run.text for secret in scenario.all_secrets())
    after = {m: replication.primary_host(scenario, m) for m, _ in replication.INSTANCES}
    figures.record(
        "HA drills",
        drill="HA-6 site.yml after the failovers",
        note=f"primaries {primaries} → {after}; changed per host: {changed}; {run.seconds:.0f} s; "
        f"passwords in the -vvv output: {leaked}",
    )
    assert run.returncode == 0, run.messages() or run.text[-3000:]
    assert changed and not any(changed.values()), changed
    assert leaked == 0, "a password appears in the -vvv output"
    assert after == primaries
    for master, port in replication.INSTANCES:
        assert replication.masters(scenario, port) == [primaries[master]]
