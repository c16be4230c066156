"""The measurements, each on the running lab stack."""

from __future__ import annotations

import secrets
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.lab import APP, REDIS, WORKERS, python, sh, systemctl, wait_for

ROOT = Path(__file__).resolve().parent.parent
STOCK_UNIT = "matchbot-bench-stock"
TASKS = {
    "no-op": ("app.tasks.health.canary", {}),
    "fuzzy match": (
        "app.tasks.matching.fuzzy_match",
        {
            "records": [f"Acme Trading {i} Ltd" for i in range(5)],
            "candidates": [f"ACME Trading {i} Limited" for i in range(20)],
        },
    ),
}

PRELOAD = """
import json, time
from app.core.celery import app
ids = []
with app.producer_or_acquire() as producer:
    for _ in range({count}):
        ids.append(app.send_task({name!r}, kwargs={kwargs!r}, queue="default",
                                 producer=producer).id)
with open("/var/tmp/bench-ids.json", "w") as handle:
    json.dump(ids, handle)
print(json.dumps(len(ids)))
"""
# First to last completion, from the result backend's date_done of every task.
COMPLETIONS = """
import json, time
from datetime import datetime
from app.core.celery import app
ids = json.load(open("/var/tmp/bench-ids.json"))
backend = app.backend
keys = [backend.get_key_for_task(i) for i in ids]
deadline = time.monotonic() + {timeout}
while True:
    metas = [m for m in backend.client.mget(keys) if m]
    if len(metas) == len(keys) or time.monotonic() > deadline:
        break
    time.sleep(0.5)
done = sorted(datetime.fromisoformat(json.loads(m)["date_done"]).timestamp() for m in metas)
if len(done) < 2:
    raise SystemExit(f"only {{len(done)}} of {{len(keys)}} tasks completed: are workers running?")
print(json.dumps({{"completed": len(done), "first": done[0], "last": done[-1]}}))
"""


def worker_units() -> list[str]:
    """Every worker group the inventory deployed (the same groups on each worker host)."""
    listing = sh(WORKERS[0], "systemctl list-unit-files --no-legend 'matchbot-worker-*.service'")
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def start_stock_workers() -> None:
    """Stock Celery on every worker host: prefork, concurrency = cores, queue `default`."""
    source = (ROOT / "bench" / "stock_celery.py").read_text()
    for host in WORKERS:
        sh(
            host,
            f"install -d -o matchbot /var/tmp/matchbot-bench && cat > /var/tmp/matchbot-bench/"
            f"stock_celery.py <<'EOF'\n{source}EOF",
        )
        sh(
            host,
            f"systemctl stop {STOCK_UNIT}; systemctl reset-failed {STOCK_UNIT}; true",
        )
        sh(
            host,
            f"systemd-run --unit={STOCK_UNIT} --uid=matchbot --gid=matchbot "
            "--property=EnvironmentFile=/etc/matchbot/matchbot.env "
            "--setenv=PYTHONPATH=/var/tmp/matchbot-bench "
            "--working-directory=/var/tmp/matchbot-bench "
            "/opt/matchbot/current/venv/bin/celery -A stock_celery worker -Q default "
            "--concurrency=$(nproc) --hostname=stock@$(hostname) --loglevel=WARNING",
        )


def drain_once(config: str, task: str, count: int) -> dict[str, Any]:
    """Preload `count` tasks with no worker running, start the workers, time first → last."""
    name, kwargs = TASKS[task]
    units = worker_units()
    systemctl(WORKERS, "stop", *units)
    python(APP, PRELOAD.format(count=count, name=name, kwargs=kwargs))
    started = time.time()
    if config == "tuned":
        systemctl(WORKERS, "start", *units)
    else:
        start_stock_workers()
    try:
        result = python(APP, COMPLETIONS.format(timeout=600))
    finally:
        if config == "stock":
            systemctl(WORKERS, "stop", STOCK_UNIT)
        systemctl(WORKERS, "start", *units)
    span = result["last"] - result["first"]
    return {
        "config": config,
        "task": task,
        "tasks": count,
        "completed": result["completed"],
        "seconds": round(span, 3),
        "per_second": round(result["completed"] / span, 1),
        "start_to_first": round(result["first"] - started, 2),
    }


def drain(repetitions: int, counts: dict[str, int]) -> list[dict[str, Any]]:
    runs = []
    for repetition in range(repetitions):
        for task, count in counts.items():
            for config in ("tuned", "stock"):  # interleaved: drift hits both alike
                run = drain_once(config, task, count)
                run["repetition"] = repetition + 1
                print(f"  drain {config:5} {task:11} rep {repetition + 1}: {run['per_second']}/s")
                runs.append(run)
    return runs


def summarise_drain(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for task in dict.fromkeys(r["task"] for r in runs):
        row: dict[str, Any] = {"task": task}
        for config in ("tuned", "stock"):
            rates = [r["per_second"] for r in runs if r["task"] == task and r["config"] == config]
            row[config] = {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}
        row["ratio"] = round(row["tuned"]["median"] / row["stock"]["median"], 2)
        rows.append(row)
    return rows


LATENCY = """
import json, time
from app.core.celery import app
rate, seconds = {rate}, {seconds}
sent = []
started = time.monotonic()
with app.producer_or_acquire() as producer:
    for n in range(int(rate * seconds)):
        pause = started + n / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        at = time.time()
        sent.append((app.send_task("app.tasks.health.canary", queue="default",
                                   producer=producer).id, at))
publish_seconds = time.monotonic() - started
latencies = sorted(app.AsyncResult(i).get(timeout=120)["at"] - at for i, at in sent)
round_trips = []
for _ in range({round_trips}):
    begun = time.perf_counter()
    app.send_task("app.tasks.health.canary", queue="default").get(timeout=30)
    round_trips.append(time.perf_counter() - begun)
print(json.dumps({{"sent": len(sent), "offered_per_second": rate,
                  "published_per_second": len(sent) / publish_seconds,
                  "latencies": latencies, "round_trips": sorted(round_trips)}}))
"""


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 2)

    return {
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def latency(rate: float, seconds: float, round_trips: int) -> dict[str, Any]:
    """Enqueue → start at a fixed offered load, then delay().get() round trips one at a time."""
    raw = python(APP, LATENCY.format(rate=rate, seconds=seconds, round_trips=round_trips))
    return {
        "offered_per_second": rate,
        "sent": raw["sent"],
        "published_per_second": round(raw["published_per_second"], 1),
        "enqueue_to_start": percentiles(raw["latencies"]),
        "round_trip": percentiles(raw["round_trips"]),
    }


# redis-benchmark (Redis 7.0) reads no REDISCLI_AUTH: its password can only go on its command
# line. It gets a throwaway ACL user instead of a real one: a random password, only the keys
# and commands of the LPUSH/RPOP tests, created for the run and deleted after it.
BENCH_USER = "matchbot-bench"
BENCH_RULES = "resetkeys ~mylist* resetchannels -@all +ping +lpush +rpop"


def redis_ceiling(admin_password: str) -> dict[str, float]:
    """redis-benchmark on the Redis host: LPUSH and RPOP, 50 clients, loopback."""
    admin = "redis-cli --no-auth-warning -p 6379 --user admin"
    throwaway = secrets.token_hex(24)
    auth = {"REDISCLI_AUTH": admin_password, "BENCH_AUTH": throwaway}
    # printf is a shell builtin: the throwaway password reaches redis-cli on stdin.
    create = f"printf 'ACL SETUSER {BENCH_USER} on >%s {BENCH_RULES}\\n' \"$BENCH_AUTH\""
    sh(REDIS, f"{create} | {admin}", secrets=auth)
    try:
        out = sh(
            REDIS,
            f'redis-benchmark -p 6379 --user {BENCH_USER} -a "$BENCH_AUTH" -t lpush,rpop '
            "-n 200000 -q 2>/dev/null",
            secrets={"BENCH_AUTH": throwaway},
        )
    finally:
        sh(REDIS, f"{admin} ACL DELUSER {BENCH_USER}", secrets=auth)
    rates = {}
    for line in out.replace("\r", "\n").splitlines():
        if "requests per second" in line:
            name, _, rest = line.partition(":")
            rates[name.strip()] = float(rest.split()[0])
    return rates


def recovery() -> dict[str, float]:
    """Worker SIGKILL → the node answers a ping again; Redis restart → first round trip."""
    node = f"cpu@{WORKERS[0]}"
    unit = "matchbot-worker-cpu.service"
    sh(WORKERS[0], f"systemctl kill --kill-whom=main --signal=SIGKILL {unit}")
    killed = time.monotonic()
    ping = f"""
import json
from app.core.celery import app
print(json.dumps(bool(app.control.ping(destination=[{node!r}], timeout=0.5))))
"""
    wait_for(lambda: python(APP, ping), timeout=120, interval=0)
    worker_back = time.monotonic() - killed
    sh(REDIS, "systemctl restart redis-server@broker")
    restarted = time.monotonic()
    canary = """
import json
from app.core.celery import app
try:
    ok = app.send_task("app.tasks.health.canary", queue="default").get(timeout=2) is not None
except Exception:
    ok = False
print(json.dumps(ok))
"""
    wait_for(lambda: python(APP, canary), timeout=120, interval=0)
    return {
        "worker_sigkill_to_registered_s": round(worker_back, 1),
        "redis_restart_to_round_trip_s": round(time.monotonic() - restarted, 1),
    }


def deploy(cold: bool) -> dict[str, Any]:
    """site.yml on the lab (cold: the hosts were just created); seconds and changed tasks."""
    started = time.monotonic()
    run = subprocess.run(
        ["ansible-playbook", "-i", str(ROOT / "inventories/lab"), str(ROOT / "site.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if run.returncode != 0:
        raise RuntimeError(run.stdout[-3000:] + run.stderr[-2000:])
    recap = run.stdout[run.stdout.rfind("PLAY RECAP") :]
    changed = sum(int(part.split("=")[1]) for part in recap.split() if part.startswith("changed="))
    return {
        "kind": "cold" if cold else "idempotent",
        "seconds": round(seconds, 1),
        "changed": changed,
    }
