"""Drill 15 — backups and restore of the broker.

With the workers stopped, 5,000 tasks are queued and a backup is taken (the unit the timer
starts). The broker's data is destroyed twice, by FLUSHALL as admin and by deleting its data
folder, and playbooks/redis-restore.yml brings it back each time: every queued task is there
again and runs once the workers start, and a result stored before the backup is readable again.
A damaged backup (a truncated AOF file) is refused before any host changes, naming the file.
The backups are listed and the newest copied to the controller, checked there. Last, the timer
on a 10-second schedule takes a backup on its own and prunes by retention.
"""

from __future__ import annotations

import datetime as dt
import shlex
import uuid

from labkit import backups
from labkit.backups import FOLDER, INSTANCE, NAME_FORMAT, TEXTFILE, TIMER
from labkit.hosts import sh, systemctl, worker_units
from labkit.platform import duplicates
from labkit.waiting import wait_until

QUEUED = 5_000


def queued(broker) -> int:
    return int(broker.run("LLEN", "default"))


def restore(run_site, *extra: str):
    run = backups.restore(run_site, *extra)
    assert run.returncode == 0, "\n".join(run.messages()) or run.text[-3000:]
    return run


def test_a_backup_restores_every_queued_task_and_stored_result(
    scenario, platform, broker_admin, run_site, figures
):
    host, broker = scenario.redis_host, broker_admin
    stored = platform.run_task("app.tasks.health.canary", timeout=60)
    assert stored["state"] == "SUCCESS"
    units = worker_units(scenario.worker_groups)
    systemctl(scenario.worker_hosts, "stop", *units)
    try:
        batch = f"backup-{uuid.uuid4().hex[:8]}"
        platform.publish_tally(batch, QUEUED)
        expected = queued(broker)
        assert expected >= QUEUED

        backup_seconds = backups.take(host)
        name = backups.names(host)[-1]

        broker.run("FLUSHALL")
        assert queued(broker) == 0
        assert platform.succeeded([stored["id"]]) == set()
        # By name: "latest" is the damaged-backup drill's (below).
        runs = {"FLUSHALL": restore(run_site, "-e", f"redis_restore_backup={name}")}
        restored = {"FLUSHALL": queued(broker)}
        assert restored["FLUSHALL"] == expected
        assert platform.succeeded([stored["id"]]) == {stored["id"]}

        sh(host, f"systemctl stop redis-server@{INSTANCE} && rm -rf /var/lib/redis/{INSTANCE}")
        runs["data folder deleted"] = restore(run_site, "-e", f"redis_restore_backup={name}")
        restored["data folder deleted"] = queued(broker)
        assert restored["data folder deleted"] == expected
    finally:
        systemctl(scenario.worker_hosts, "start", *units)

    counts = platform.wait_for_tally(batch, QUEUED, timeout=300)
    for destroyed, run in runs.items():
        figures.record(
            "Drill 15 - backup and restore",
            destroyed=destroyed,
            backup=name,
            backup_bytes=backups.size(host, name),
            backup_seconds=round(backup_seconds, 1),
            restore_playbook_seconds=round(run.seconds, 1),
            queued_restored=f"{restored[destroyed]}/{expected}",
            processed=f"{len(counts)}/{QUEUED}",
            duplicated=duplicates(counts),
        )
    assert len(counts) == QUEUED
    assert duplicates(counts) == 0


def test_a_damaged_backup_is_refused_before_any_change(scenario, run_site, figures):
    host = scenario.redis_host
    damaged = f"{INSTANCE}-29991231T235959Z"  # the newest, so "latest" picks it
    sh(host, f"cp -a {FOLDER}/{backups.names(host)[-1]} {FOLDER}/{damaged}")
    try:
        aof = sh(host, f"ls {FOLDER}/{damaged}/appendonlydir/*.incr.aof | tail -1").strip()
        sh(host, f"truncate -s -5 {shlex.quote(aof)}")
        run = backups.restore(run_site)
    finally:
        sh(host, f"rm -rf {FOLDER}/{damaged}")
    figures.record(
        "Drill 15 - backup and restore",
        destroyed="backup truncated",
        backup=damaged,
        restore_playbook_seconds=round(run.seconds, 1),
        queued_restored="refused",
    )
    assert run.refused_before_any_change(), run.changed_per_host()
    assert run.names(aof), run.messages()


def test_backups_are_listed_and_copied_off_host_with_their_checksums(
    scenario, run_site, tmp_path, figures
):
    host = scenario.redis_host
    newest = backups.names(host)[-1]
    listed = run_site(playbook="playbooks/redis-backups.yml")
    assert listed.returncode == 0, listed.text[-3000:]
    assert newest in listed.text

    fetched = run_site(
        "-e", f"redis_backup_fetch_dir={tmp_path}", playbook="playbooks/redis-backups-fetch.yml"
    )
    assert fetched.returncode == 0, "\n".join(fetched.messages()) or fetched.text[-3000:]
    copy = tmp_path / host / INSTANCE / newest
    checked = "redis : Check the copies against their SHA256SUMS on the controller"
    assert fetched.outcomes(checked) == ["ok"]
    files = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
    figures.record(
        "Drill 15 - off-host copy",
        backup=newest,
        files=len(files),
        bytes=sum(p.stat().st_size for p in copy.rglob("*") if p.is_file()),
        fetch_seconds=round(fetched.seconds, 1),
    )
    assert "SHA256SUMS" in files
    assert any(name.endswith(".manifest") for name in files)


def plant(host: str, when: dt.datetime) -> str:
    """A copy of a real backup under an older backup's name."""
    name = f"{INSTANCE}-{when.strftime(NAME_FORMAT)}"
    sh(host, f"cp -a {FOLDER}/{backups.names(host)[-1]} {FOLDER}/{name}")
    return name


def test_the_timer_takes_backups_on_schedule_and_prunes_by_retention(scenario, run_site, figures):
    host = scenario.redis_host
    now = dt.datetime.now(dt.UTC)
    day = (now - dt.timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    daily, same_day, expired = day, day - dt.timedelta(hours=2), now - dt.timedelta(days=40)
    planted = {when: plant(host, when) for when in (daily, same_day, expired)}
    last = backups.names(host)[-1]

    try:
        run = run_site("--tags", "redis", "-e", "redis_backup_on_calendar=*:*:0/10")
        assert run.returncode == 0, "\n".join(run.messages()) or run.text[-3000:]
        assert wait_until(lambda: backups.names(host)[-1] > last, timeout=60)
        last_trigger = f"$(systemctl show -p LastTriggerUSec --value {TIMER})"
        triggered = sh(host, f'date -d "{last_trigger}" +%s')
        present = set(backups.names(host))
    finally:  # the inventory's schedule back
        assert run_site("--tags", "redis").returncode == 0
    figures.record(
        "Drill 15 - timer",
        schedule="*:*:0/10",
        timer_last_trigger=triggered.strip(),
        newest=backups.names(host)[-1],
        kept_daily=planted[daily] in present,
        pruned_same_day=planted[same_day] not in present,
        pruned_expired=planted[expired] not in present,
    )
    assert int(triggered) > now.timestamp()
    assert planted[daily] in present
    assert planted[same_day] not in present
    assert planted[expired] not in present
    metrics = sh(host, f"cat {TEXTFILE}")
    assert f'matchbot_redis_backup_last_run_success{{redis_instance="{INSTANCE}"}} 1.0' in metrics
