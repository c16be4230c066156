#!/usr/bin/python3
"""Backups of a Redis instance's append-only files: /usr/local/sbin/matchbot-redis-backup.

  matchbot-redis-backup backup --instance broker --port 6379 ...   take, check, keep, prune
  matchbot-redis-backup verify DIR                                 check one backup
  matchbot-redis-backup list --backup-dir DIR                      name, age, size of each

Redis's documented procedure for a multi-part AOF (Redis 7): turn automatic rewrites off, wait
until no rewrite runs, hard-link every file of the append-only directory, put the setting back,
then copy the links. A backup counts only once `redis-check-aof` passed on the copy and its
SHA256SUMS is written; it is then renamed into place, so a directory named like a backup is a
checked one, and a failed attempt never replaces a good backup. The last file grows while it is
copied, so a copy can end in the middle of a command: such an attempt fails its check and is
taken again (3 attempts), so a persistent failure means a damaged source.

The password of the ACL user is read from a file (--password-file) and sent to redis-cli on its
standard input, never on a command line.
Standard library only: it runs with Debian's python3 on the Redis hosts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

NAME_FORMAT = "%Y%m%dT%H%M%SZ"
AOF_DIR = "appendonlydir"
SUMS = "SHA256SUMS"
ATTEMPTS = 3
REWRITE_WAIT_SECONDS = 600


@dataclass(frozen=True)
class Backup:
    path: Path
    taken: dt.datetime

    @property
    def name(self) -> str:
        return self.path.name

    def size(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())


def backup_name(instance: str, when: dt.datetime) -> str:
    return f"{instance}-{when.strftime(NAME_FORMAT)}"


def parse_name(name: str) -> dt.datetime | None:
    """When a backup of this name was taken; None for anything else (temporary folders)."""
    stamp = name.rpartition("-")[2]
    try:
        return dt.datetime.strptime(stamp, NAME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def backups(folder: Path) -> list[Backup]:
    """The backups in a folder, oldest first (temporary `.`-prefixed attempts left out)."""
    found = []
    for path in folder.iterdir() if folder.is_dir() else ():
        taken = parse_name(path.name)
        if path.is_dir() and not path.name.startswith(".") and taken is not None:
            found.append(Backup(path, taken))
    return sorted(found, key=lambda b: b.taken)


def to_keep(
    taken: Sequence[dt.datetime], now: dt.datetime, hourly_hours: int, daily_days: int
) -> set[dt.datetime]:
    """Retention: every backup of the last `hourly_hours`, the newest of each UTC day of the last
    `daily_days`, and always the newest backup (so a stopped timer never empties the folder)."""
    keep = {t for t in taken if now - t <= dt.timedelta(hours=hourly_hours)}
    newest_of_day: dict[dt.date, dt.datetime] = {}
    for t in taken:
        if now - t <= dt.timedelta(days=daily_days):
            day = t.date()
            newest_of_day[day] = max(t, newest_of_day.get(day, t))
    keep |= set(newest_of_day.values())
    if taken:
        keep.add(max(taken))
    return keep


class Redis:
    """redis-cli on this host as one ACL user; the password goes over stdin."""

    def __init__(self, port: int, user: str, password: str, ca_file: str | None) -> None:
        tls = ["--tls", "--cacert", ca_file] if ca_file else []
        self.argv = ["timeout", "15", "redis-cli", *tls, "-p", str(port), "--no-auth-warning"]
        self.user, self.password = user, password

    def run(self, *commands: str) -> list[str]:
        script = "\n".join([f"AUTH {self.user} {self.password}", *commands]) + "\n"
        done = subprocess.run(self.argv, input=script, capture_output=True, text=True, check=True)
        lines = done.stdout.splitlines()
        if not lines or lines[0] != "OK":
            raise RuntimeError(f"redis-cli: authentication as {self.user} failed")
        if any(line.startswith(("ERR", "NOPERM", "WRONGPASS")) for line in lines):
            raise RuntimeError(f"redis-cli: {' / '.join(lines[1:])}")
        return lines[1:]

    def info(self, section: str) -> dict[str, str]:
        fields = (line.partition(":") for line in self.run(f"INFO {section}"))
        return {key: value.strip() for key, sep, value in fields if sep}


def wait_for_no_rewrite(redis: Redis) -> None:
    deadline = time.monotonic() + REWRITE_WAIT_SECONDS
    while True:
        info = redis.info("persistence")
        if info.get("aof_rewrite_in_progress") == "0" and info.get("aof_rewrite_scheduled") == "0":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"an AOF rewrite still runs after {REWRITE_WAIT_SECONDS} s")
        time.sleep(1)


def link_files(redis: Redis, source: Path, staging: Path) -> None:
    """Hard links of the append-only directory's files, taken while no rewrite can start."""
    previous = redis.run("CONFIG GET auto-aof-rewrite-percentage")[1]
    redis.run("CONFIG SET auto-aof-rewrite-percentage 0")
    try:
        wait_for_no_rewrite(redis)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        for file in source.iterdir():
            os.link(file, staging / file.name)
    finally:
        redis.run(f"CONFIG SET auto-aof-rewrite-percentage {previous}")


def check(aof_dir: Path) -> tuple[bool, str]:
    """redis-check-aof on a copy's manifest: (passed, its last lines)."""
    manifests = sorted(aof_dir.glob("*.manifest"))
    if len(manifests) != 1:
        return False, f"{aof_dir}: expected one AOF manifest, found {len(manifests)}"
    done = subprocess.run(
        ["redis-check-aof", str(manifests[0])], capture_output=True, text=True, check=False
    )
    tail = "\n".join(done.stdout.strip().splitlines()[-3:])
    return done.returncode == 0, f"{aof_dir}: redis-check-aof: {tail}"


def sums_of(folder: Path) -> str:
    lines = []
    for file in sorted(f for f in folder.rglob("*") if f.is_file() and f.name != SUMS):
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        lines.append(f"{digest}  {file.relative_to(folder)}")
    return "\n".join(lines) + "\n"


def digests(sums: str) -> dict[str, str]:
    """File name → digest, from sha256sum's format."""
    pairs = (line.partition("  ") for line in sums.splitlines())
    return {name: digest for digest, _, name in pairs}


def verify(folder: Path) -> tuple[bool, str]:
    """A backup is good when its files match its SHA256SUMS and its AOF passes redis-check-aof;
    the message names the file that differs."""
    sums = folder / SUMS
    if not sums.is_file():
        return False, f"{sums}: missing (not a finished backup)"
    expected, found = digests(sums.read_text()), digests(sums_of(folder))
    for name in sorted(expected.keys() | found.keys()):
        if expected.get(name) != found.get(name):
            what = (
                "missing"
                if name not in found
                else "not listed"
                if name not in expected
                else "changed"
            )
            return False, f"{folder / name}: {what} since the backup was taken ({SUMS} differs)"
    return check(folder / AOF_DIR)


def take(redis: Redis, data_dir: Path, target: Path) -> tuple[bool, str]:
    """One attempt: link, copy into `target`/appendonlydir, check, write the sums."""
    staging = data_dir / ".backup-staging"
    try:
        link_files(redis, data_dir / AOF_DIR, staging)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(mode=0o700, parents=True)
        shutil.copytree(staging, target / AOF_DIR)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    passed, output = check(target / AOF_DIR)
    if passed:
        (target / SUMS).write_text(sums_of(target))
    return passed, output


def write_textfile(path: Path, instance: str, values: dict[str, float]) -> None:
    """The node exporter's textfile collector reads it (written whole, then renamed)."""
    label = f'{{redis_instance="{instance}"}}'
    lines = []
    for name, value in values.items():
        metric = f"matchbot_redis_backup_{name}"
        lines += [f"# TYPE {metric} gauge", f"{metric}{label} {value}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text("\n".join(lines) + "\n")
    temporary.chmod(0o644)
    temporary.replace(path)


def prune(folder: Path, now: dt.datetime, hourly_hours: int, daily_days: int) -> list[str]:
    found = backups(folder)
    keep = to_keep([b.taken for b in found], now, hourly_hours, daily_days)
    removed = [b for b in found if b.taken not in keep]
    for b in removed:
        shutil.rmtree(b.path)
    return [b.name for b in removed]


def take_checked(redis: Redis, data_dir: Path, folder: Path, name: str) -> bool:
    """A checked backup named `name` in `folder`, or False after ATTEMPTS failed checks."""
    target = folder / f".incomplete-{name}"
    for attempt in range(1, ATTEMPTS + 1):
        passed, output = take(redis, data_dir, target)
        if passed:
            target.rename(folder / name)
            return True
        print(f"attempt {attempt}: the copy failed its check: {output}", file=sys.stderr)
    shutil.rmtree(target, ignore_errors=True)
    return False


def metrics(folder: Path, passed: bool, seconds: float) -> dict[str, float]:
    """The last run, and the newest good backup in the folder (whichever run took it)."""
    found = backups(folder)
    newest = found[-1] if found else None
    return {
        "last_run_success": float(passed),
        "last_run_duration_seconds": round(seconds, 3),
        "last_success_timestamp_seconds": newest.taken.timestamp() if newest else 0.0,
        "last_success_size_bytes": float(newest.size()) if newest else 0.0,
        "count": float(len(found)),
    }


def run_backup(args: argparse.Namespace) -> int:
    password = Path(args.password_file).read_text().strip()
    redis = Redis(args.port, args.user, password, args.tls_ca_file)
    folder = Path(args.backup_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    begun, now = time.monotonic(), dt.datetime.now(dt.UTC)
    name = backup_name(args.instance, now)
    if args.primary_only and redis.info("replication").get("role") != "master":
        print(f"{args.instance} is a replica here: the primary's host takes the backup")
        passed = True
    elif passed := take_checked(redis, Path(args.data_dir), folder, name):
        size = Backup(folder / name, now).size()
        print(f"backup {name}: {size} bytes in {time.monotonic() - begun:.1f} s, checked")
        removed = prune(folder, now, args.keep_hourly_hours, args.keep_daily_days)
        if removed:
            print(f"pruned by retention: {' '.join(removed)}")
    # On a replica too: an alert takes the newest success over every host of the set.
    if args.textfile:
        values = metrics(folder, passed, time.monotonic() - begun)
        write_textfile(Path(args.textfile), args.instance, values)
    if not passed:
        print(f"backup of {args.instance} FAILED its check {ATTEMPTS} times", file=sys.stderr)
        return 1
    return 0


def run_verify(args: argparse.Namespace) -> int:
    passed, output = verify(Path(args.folder))
    print(output)
    return 0 if passed else 1


def table(rows: Iterable[Backup], now: dt.datetime) -> str:
    lines = [f"{'backup':<32} {'age':>10} {'bytes':>12}"]
    for b in rows:
        hours = (now - b.taken).total_seconds() / 3600
        lines.append(f"{b.name:<32} {hours:>9.1f}h {b.size():>12}")
    return "\n".join(lines)


def run_list(args: argparse.Namespace) -> int:
    print(table(backups(Path(args.backup_dir)), dt.datetime.now(dt.UTC)))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True)
    take_it = commands.add_parser("backup", help="take, check, keep and prune")
    take_it.add_argument("--instance", required=True)
    take_it.add_argument("--port", type=int, required=True)
    take_it.add_argument("--user", default="backup")
    take_it.add_argument("--password-file", required=True, help="the ACL user's password")
    take_it.add_argument("--tls-ca-file")
    take_it.add_argument("--data-dir", required=True)
    take_it.add_argument("--backup-dir", required=True)
    take_it.add_argument("--keep-hourly-hours", type=int, default=48)
    take_it.add_argument("--keep-daily-days", type=int, default=30)
    take_it.add_argument("--textfile", help="metrics file for the node exporter")
    take_it.add_argument("--primary-only", action="store_true", help="skip on a replica")
    take_it.set_defaults(run=run_backup)
    check_it = commands.add_parser("verify", help="check one backup folder")
    check_it.add_argument("folder")
    check_it.set_defaults(run=run_verify)
    list_them = commands.add_parser("list", help="the backups, their ages and sizes")
    list_them.add_argument("--backup-dir", required=True)
    list_them.set_defaults(run=run_list)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
