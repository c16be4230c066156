"""The redis role's behaviour on a real systemd host: access, persistence, restarts, memory."""

from __future__ import annotations

import uuid

import pytest

from labkit.hosts import main_pid, restarts
from labkit.redis_cli import BROKER_PORT, CACHE_PORT
from labkit.waiting import wait_until

INSTANCES = {"broker": BROKER_PORT, "cache": CACHE_PORT}


def listening_addresses(host, port: int) -> set[str]:
    out = host.run(f"ss -Hltn sport = :{port}").stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("name", INSTANCES)
def test_instance_runs_enabled_under_debian_template_unit(host, name):
    service = host.service(f"redis-server@{name}")
    assert service.is_running
    assert service.is_enabled
    assert (
        "/etc/redis/redis-%i.conf"
        in host.file("/lib/systemd/system/redis-server@.service").content_string
    )


def test_stock_instance_is_disabled(host):
    assert not host.service("redis-server").is_running
    assert not host.service("redis-server").is_enabled


def test_broker_listens_on_loopback_and_the_chosen_address_only(host):
    own_address = host.ansible.get_variables()["matchbot_private_address"]
    loopback = {"127.0.0.1", "[::1]"}
    assert listening_addresses(host, BROKER_PORT) - loopback == {own_address}
    assert "127.0.0.1" in listening_addresses(host, BROKER_PORT)


def test_cache_listens_on_loopback_only(host):
    addresses = listening_addresses(host, CACHE_PORT)
    assert "127.0.0.1" in addresses
    assert addresses <= {"127.0.0.1", "[::1]"}


@pytest.mark.parametrize(
    ("user", "port"),
    [
        ("celery", BROKER_PORT),
        ("flower", BROKER_PORT),
        ("monitor", BROKER_PORT),
        ("admin", BROKER_PORT),
        ("backup", BROKER_PORT),
        ("monitor", CACHE_PORT),
        ("app", CACHE_PORT),
        ("admin", CACHE_PORT),
    ],
)
def test_each_user_pings_with_its_password(redis_as, user, port):
    assert redis_as(user, port).run("PING") == "PONG"


@pytest.mark.parametrize("port", INSTANCES.values())
def test_anonymous_access_is_refused(redis_as, port):
    anonymous = redis_as(None, port)
    assert "NOAUTH" in anonymous.run("PING")
    assert "NOAUTH" in anonymous.run("GET", "celery")


@pytest.mark.parametrize("port", INSTANCES.values())
def test_wrong_password_is_refused(redis_as, port):
    out = redis_as("admin", port, password="not-the-password").run("PING")
    assert "WRONGPASS" in out
    assert "PONG" not in out


def test_default_user_is_off(redis_as):
    assert "off" in redis_as("admin").run("ACL", "GETUSER", "default")


def test_celery_user_is_restricted(redis_as):
    celery = redis_as("celery")
    assert celery.run("SET", "celery-probe:acl", "ok") == "OK"
    assert "NOPERM" in celery.run("FLUSHALL")
    assert "NOPERM" in celery.run("CONFIG", "GET", "maxmemory")
    assert "NOPERM" in celery.run("GET", "not-a-celery-key")
    assert "NOPERM" in celery.run("KEYS", "*")


def test_celery_user_does_not_exist_on_the_cache(redis_as):
    assert "WRONGPASS" in redis_as("celery", CACHE_PORT).run("PING")


def test_app_user_is_limited_to_its_prefix_on_the_cache(redis_as):
    app = redis_as("app", CACHE_PORT)
    assert app.run("SET", "cache:probe", "ok") == "OK"
    assert "NOPERM" in app.run("SET", "celery-task-meta-x", "no")
    assert "NOPERM" in app.run("FLUSHALL")


def test_monitor_user_reads_no_keys(redis_as):
    monitor = redis_as("monitor")
    assert monitor.info("server")["redis_mode"] == "standalone"
    assert "NOPERM" in monitor.run("GET", "celery-probe:acl")


def test_backup_user_reads_no_keys_and_exists_only_where_backups_are_taken(redis_as):
    backup = redis_as("backup")
    assert backup.run("CONFIG", "GET", "auto-aof-rewrite-percentage").split() == [
        "auto-aof-rewrite-percentage",
        "100",
    ]
    assert "NOPERM" in backup.run("GET", "celery-probe:acl")
    assert "NOPERM" in backup.run("FLUSHALL")
    assert "WRONGPASS" in redis_as("backup", CACHE_PORT).run("PING")


def test_acl_files_hold_hashes_and_are_not_world_readable(host):
    for name in INSTANCES:
        acl = host.file(f"/etc/redis/users-{name}.acl")
        assert acl.user == "redis"
        assert acl.mode & 0o007 == 0
        content = host.run(f"cat /etc/redis/users-{name}.acl").stdout
        assert " #" in content
        assert " >" not in content


def test_aof_is_on_for_the_broker_and_off_for_the_cache(host, redis_as):
    assert redis_as("admin").info("persistence")["aof_enabled"] == "1"
    assert redis_as("admin", CACHE_PORT).info("persistence")["aof_enabled"] == "0"
    aof_dir = "/var/lib/redis/broker/appendonlydir"
    assert host.file(f"{aof_dir}/appendonly.aof.manifest").exists
    files = host.run(f"ls {aof_dir}").stdout.split()
    assert any(name.endswith(".incr.aof") for name in files)


def test_broker_key_survives_systemctl_restart(host, redis_as):
    celery = redis_as("celery")
    value = uuid.uuid4().hex
    assert celery.run("SET", "celery-probe:restart", value) == "OK"
    assert host.run("systemctl restart redis-server@broker").rc == 0
    assert wait_until(celery.answers)
    assert celery.run("GET", "celery-probe:restart") == value


def test_scripted_and_transactional_writes_survive_systemctl_restart(host, redis_as):
    """Lua scripts and MULTI/EXEC (kombu's fetches and acknowledgements, Celery's result writes)
    reach the AOF as MULTI/EXEC blocks, which Redis 7.0 replays under the default user's ACL."""
    celery = redis_as("celery")
    value = uuid.uuid4().hex
    script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('RPUSH', KEYS[2], ARGV[1])"
    keys = ("celery-probe:script", "celery-probe:script-list")
    assert celery.run("DEL", *keys) in ("0", "1", "2")
    assert celery.run("EVAL", script, "2", *keys, value) == "1"
    assert host.run("systemctl restart redis-server@broker").rc == 0
    assert wait_until(celery.answers)
    assert celery.run("GET", keys[0]) == value
    assert celery.run("LRANGE", keys[1], "0", "-1") == value


@pytest.mark.parametrize("name", INSTANCES)
def test_systemd_restarts_an_instance_after_sigkill(host, redis_as, name):
    unit = f"redis-server@{name}.service"
    client = redis_as("monitor", INSTANCES[name])
    pid_before, restarts_before = (
        main_pid(host.backend.host, unit),
        restarts(host.backend.host, unit),
    )
    assert host.run(f"systemctl kill --signal=SIGKILL {unit}").rc == 0
    assert wait_until(lambda: main_pid(host.backend.host, unit) not in (0, pid_before))
    assert wait_until(client.answers)
    assert restarts(host.backend.host, unit) > restarts_before


def test_broker_key_survives_sigkill(host, redis_as):
    unit = "redis-server@broker.service"
    celery = redis_as("celery")
    value = uuid.uuid4().hex
    assert celery.run("SET", "celery-probe:sigkill", value) == "OK"
    pid_before = main_pid(host.backend.host, unit)
    assert host.run(f"systemctl kill --signal=SIGKILL {unit}").rc == 0
    assert wait_until(lambda: main_pid(host.backend.host, unit) not in (0, pid_before))
    assert wait_until(celery.answers)
    assert celery.run("GET", "celery-probe:sigkill") == value


def test_cache_evicts_under_memory_pressure(redis_as):
    admin = redis_as("admin", CACHE_PORT)
    evicted_before = int(admin.info("stats")["evicted_keys"])
    summary = admin.fill(15, "pressure", 40)
    try:
        assert "errors: 0" in summary
        assert int(admin.info("stats")["evicted_keys"]) > evicted_before
    finally:
        admin.run("-n", "15", "FLUSHDB")


def test_broker_refuses_writes_instead_of_evicting(redis_as):
    admin = redis_as("admin")
    summary = admin.fill(15, "celery-pressure", 40)
    try:
        assert "errors: 0" not in summary
        assert int(admin.info("stats")["evicted_keys"]) == 0
        assert int(admin.run("-n", "15", "DBSIZE")) < 400
    finally:
        admin.run("-n", "15", "FLUSHDB")
    assert redis_as("celery").run("SET", "celery-probe:after-pressure", "ok") == "OK"


def test_write_probes_for_the_host_restart(redis_as, restart_probes):
    probes = restart_probes
    assert redis_as("celery").run("SET", probes["broker_key"], probes["broker_value"]) == "OK"
    assert redis_as("app", CACHE_PORT).run("SET", probes["cache_key"], "x") == "OK"
