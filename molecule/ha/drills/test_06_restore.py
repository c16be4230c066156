"""Drill HA-8 — backup and restore of a replicated broker. The primary's host takes the backup
(a replica's unit skips); after FLUSHALL on the primary (which the replicas copy),
playbooks/redis-restore.yml puts the backup back on the primary with the Sentinels stopped, the
replicas copy it from there, the Sentinels come back agreeing on the same primary, and every
queued task runs once the workers start."""

from __future__ import annotations

import uuid

from labkit import backups, replication
from labkit.hosts import systemctl, worker_units
from labkit.platform import duplicates
from labkit.waiting import poll, wait_until

QUEUED = 2_000


def queued(scenario, host: str) -> int:
    return int(replication.admin(scenario, host).run("LLEN", "default"))


def test_a_restore_goes_back_on_the_primary_and_reaches_every_replica(
    scenario, platform, run_site, figures
):
    primary = poll(lambda: replication.settled(scenario), timeout=120)
    assert primary, "the replicated set is not whole"
    replicas = [host for host in scenario.redis_hosts if host != primary]
    units = worker_units(scenario.worker_groups)
    systemctl(scenario.worker_hosts, "stop", *units)
    try:
        batch = f"ha-backup-{uuid.uuid4().hex[:8]}"
        platform.publish_tally(batch, QUEUED)
        expected = queued(scenario, primary)
        assert expected >= QUEUED
        on_replica = backups.names(replicas[0])
        backup_seconds = backups.take(primary)
        backups.take(replicas[0])
        assert backups.names(replicas[0]) == on_replica, "a replica took a backup"
        name = backups.names(primary)[-1]

        replication.admin(scenario, primary).run("FLUSHALL")
        for host in scenario.redis_hosts:
            assert wait_until(lambda host=host: queued(scenario, host) == 0, timeout=30)
        run = backups.restore(run_site, "-e", f"redis_restore_backup={name}")
        assert run.returncode == 0, "\n".join(run.messages()) or run.text[-3000:]
        restored = {host: queued(scenario, host) for host in scenario.redis_hosts}
        settled = poll(lambda: replication.settled(scenario), timeout=60)
    finally:
        systemctl(scenario.worker_hosts, "start", *units)
    counts = platform.wait_for_tally(batch, QUEUED, timeout=300)
    figures.record(
        "HA drills",
        drill="HA-8 restore on the primary",
        note=f"backup {name} ({backups.size(primary, name)} bytes, {backup_seconds:.1f} s), "
        f"restore {run.seconds:.0f} s; queued after the restore {restored} of {expected}; "
        f"Sentinels agree on {settled}; ran {len(counts)}/{QUEUED}, "
        f"duplicated {duplicates(counts)}",
    )
    assert restored == dict.fromkeys(scenario.redis_hosts, expected)
    assert settled == primary
    assert len(counts) == QUEUED
    assert duplicates(counts) == 0
