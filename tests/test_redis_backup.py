"""matchbot-redis-backup (the redis role's backup program) against a real redis-server with the
role's `backup` ACL user: a backup is taken by Redis's multi-part AOF procedure, is loaded by a
fresh Redis, and a damaged one is refused naming the file. Retention on its own."""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import redis
from conftest import ROOT, RedisServer, role_acl_users, start_redis

PROGRAM = ROOT / "roles/redis/files/usr/local/sbin/matchbot_redis_backup.py"
AOF = ["--appendonly", "yes", "--save", ""]


@pytest.fixture(scope="module")
def program() -> ModuleType:
    spec = importlib.util.spec_from_file_location("matchbot_redis_backup", PROGRAM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    users = {u: r for u, r in role_acl_users().items() if u in ("backup", "admin")}
    server = start_redis("backed-up", tmp_path_factory.mktemp("backup") / "data", users, AOF)
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def data_dir(source: RedisServer) -> Path:
    return Path(source.client().config_get("dir")["dir"])


def take(program: ModuleType, source: RedisServer, target: Path) -> Path:
    password = target.parent / "backup.password"
    password.write_text(source.passwords["backup"])
    data = data_dir(source)
    argv = ["backup", "--instance", "broker", "--port", str(source.port)]
    argv += ["--password-file", str(password)]
    argv += ["--data-dir", str(data), "--backup-dir", str(target)]
    argv += ["--textfile", str(target.parent / "backup.prom")]
    assert program.main(argv) == 0
    newest: Path = program.backups(target)[-1].path
    return newest


def test_a_backup_loads_in_a_fresh_redis(
    program: ModuleType, source: RedisServer, tmp_path: Path
) -> None:
    admin = source.client()
    admin.rpush("queued", *range(5000))
    admin.bgrewriteaof()  # a base file plus an incremental one, as on a host that ran a while
    admin.rpush("queued", *range(5000, 6000))
    backup = take(program, source, tmp_path / "backups")

    assert program.verify(backup)[0]
    assert admin.config_get("auto-aof-rewrite-percentage")["auto-aof-rewrite-percentage"] == "100"
    metrics = (tmp_path / "backup.prom").read_text()
    assert 'matchbot_redis_backup_last_run_success{redis_instance="broker"} 1.0' in metrics

    copy = tmp_path / "restored"
    shutil.copytree(backup / "appendonlydir", copy / "appendonlydir")
    restored = start_redis("restored", tmp_path / "restored-log", None, [*AOF, "--dir", str(copy)])
    try:
        assert redis.Redis(port=restored.port).llen("queued") == 6000
    finally:
        restored.process.terminate()
        restored.process.wait(timeout=10)


def test_a_damaged_backup_fails_its_check_naming_the_file(
    program: ModuleType, source: RedisServer, tmp_path: Path
) -> None:
    source.client().rpush("queued", "one more")
    backup = take(program, source, tmp_path / "backups")
    damaged = sorted((backup / "appendonlydir").glob("*.incr.aof"))[-1]
    with damaged.open("r+b") as file:
        file.truncate(damaged.stat().st_size - 5)

    passed, message = program.verify(backup)
    assert not passed
    assert str(damaged) in message
    # The same damage with checksums that match it (damaged before the backup was taken):
    # redis-check-aof refuses it.
    (backup / "SHA256SUMS").write_text(program.sums_of(backup))
    passed, message = program.verify(backup)
    assert not passed
    assert damaged.name in message


def test_retention_keeps_hourly_then_daily_and_always_the_newest(program: ModuleType) -> None:
    now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    hours = [now - dt.timedelta(hours=h) for h in (1, 2, 47, 72, 73, 24 * 29, 24 * 31)]
    kept = program.to_keep(hours, now, 48, 30)
    # 72 h and 73 h ago fall on the same day: its newest (72 h) stays as the daily one.
    assert sorted(now - t for t in kept) == [dt.timedelta(hours=h) for h in (1, 2, 47, 72, 24 * 29)]
    old = [now - dt.timedelta(days=90)]
    assert program.to_keep(old, now, 48, 30) == set(old)


def test_a_backup_that_fails_its_check_is_reported_and_replaces_nothing(
    program: ModuleType, source: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "backups"
    good = take(program, source, folder)
    # Every copy fails redis-check-aof (as a damaged disk would make it).
    monkeypatch.setattr(program, "check", lambda aof_dir: (False, f"{aof_dir}: not valid"))
    password = tmp_path / "backup.password"
    argv = ["backup", "--instance", "broker", "--port", str(source.port)]
    argv += ["--password-file", str(password), "--data-dir", str(data_dir(source))]
    argv += ["--backup-dir", str(folder), "--textfile", str(tmp_path / "backup.prom")]

    assert program.main(argv) == 1
    assert [b.path for b in program.backups(folder)] == [good]
    assert sorted(p.name for p in folder.iterdir()) == [good.name]  # no attempt left behind
    metrics = (tmp_path / "backup.prom").read_text()
    assert 'matchbot_redis_backup_last_run_success{redis_instance="broker"} 0.0' in metrics
    assert f"{program.parse_name(good.name).timestamp()}" in metrics
