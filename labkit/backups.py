"""The broker's backups on a lab host (the redis role's defaults), shared by the backup drills."""

from __future__ import annotations

import time
from collections.abc import Callable

from labkit.ansible import PlaybookRun
from labkit.hosts import sh

INSTANCE = "broker"
FOLDER = f"/var/backups/redis/{INSTANCE}"  # the role's redis_backup_dir/<instance>
SERVICE = f"matchbot-redis-backup-{INSTANCE}.service"
TIMER = f"matchbot-redis-backup-{INSTANCE}.timer"
PROGRAM = "/usr/local/sbin/matchbot-redis-backup"
TEXTFILE = f"/var/lib/prometheus/node-exporter/matchbot_redis_backup_{INSTANCE}.prom"
NAME_FORMAT = "%Y%m%dT%H%M%SZ"
# playbooks/redis-restore.yml's confirmation: the instance's name repeated.
CONFIRM = ("-e", f"redis_restore_confirm={INSTANCE}")
RESTORE_PLAYBOOK = "playbooks/redis-restore.yml"


def names(host: str) -> list[str]:
    """The host's backups of the broker, oldest first (as `matchbot-redis-backup list` says)."""
    listing = sh(host, f"{PROGRAM} list --backup-dir {FOLDER}").splitlines()[1:]
    return [line.split()[0] for line in listing]


def take(host: str) -> float:
    """Seconds the backup unit took (started by hand, as its timer would)."""
    begun = time.monotonic()
    sh(host, f"systemctl start {SERVICE}")
    return time.monotonic() - begun


def size(host: str, name: str) -> int:
    return int(sh(host, f"du -sb {FOLDER}/{name}").split()[0])


def restore(run_site: Callable[..., PlaybookRun], *extra: str) -> PlaybookRun:
    """playbooks/redis-restore.yml, confirmed, with `extra` arguments (the run_site fixture)."""
    return run_site(*CONFIRM, *extra, playbook=RESTORE_PLAYBOOK)
