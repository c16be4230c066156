"""The measurements, each on the running lab stack. The publisher runs on the controller with
the app host's settings (labkit.platform), so its CPU is not taken from the measured hosts."""

from __future__ import annotations

import secrets
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from labkit import hosts
from labkit.ansible import run_playbook
from labkit.platform import CANARY, Platform
from labkit.redis_cli import HOST_CA_FILE
from labkit.scenario import Scenario
from labkit.waiting import seconds_until

ROOT = Path(__file__).resolve().parent.parent
LAB = Scenario(ROOT / "inventories" / "lab")
STOCK_UNIT = "matchbot-bench-stock"
# Backlog per drain: large enough that both worker hosts' start-up (a second or two apart) is a
# small part of the span measured.
DRAIN_TASKS = {"no-op": 10000, "fuzzy match": 4000}
TASKS = {
    "no-op": (CANARY, {}),
    "fuzzy match": (
        "app.tasks.matching.fuzzy_match",
        {
            "records": [f"Acme Trading {i} Ltd" for i in range(5)],
            "candidates": [f"ACME Trading {i} Limited" for i in range(20)],
        },
    ),
}


def worker_units() -> list[str]:
    """The worker groups that serve queue `default`, which a drain or a latency run measures
    (from the inventory). Only they are stopped for a backlog or for stock Celery: the other
    groups keep running, idle, as in production, for both configurations alike; starting
    them with the drain took CPU from its first seconds."""
    groups = [group for group in LAB.worker_groups if "default" in group["queues"]]
    return list(hosts.worker_units(groups))


def start_stock_workers() -> None:
    """Stock Celery on every worker host: prefork, concurrency = cores, queue `default`."""
    source = (ROOT / "bench" / "stock_celery.py").read_bytes()
    for host in LAB.worker_hosts:
        hosts.sh(
            host,
            "install -d -o matchbot /var/tmp/matchbot-bench && "
            "cat > /var/tmp/matchbot-bench/stock_celery.py",
            stdin=source,
        )
        hosts.sh(host, f"systemctl stop {STOCK_UNIT}; systemctl reset-failed {STOCK_UNIT}; true")
        hosts.sh(
            host,
            f"systemd-run --unit={STOCK_UNIT} --uid=matchbot --gid=matchbot "
            "--property=EnvironmentFile=/etc/matchbot/matchbot.env "
            "--setenv=PYTHONPATH=/var/tmp/matchbot-bench "
            "--working-directory=/var/tmp/matchbot-bench "
            "/opt/matchbot/current/venv/bin/celery -A stock_celery worker -Q default "
            "--concurrency=$(nproc) --hostname=stock@$(hostname) --loglevel=WARNING",
        )


def busy_share(seconds: float = 1.0) -> float:
    """Share of this machine's CPU time spent busy over `seconds` (/proc/stat; the lab hosts are
    containers on this kernel, so this counts them all)."""

    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    busy_before, total_before = sample()
    time.sleep(seconds)
    busy_after, total_after = sample()
    return (busy_after - busy_before) / max(1, total_after - total_before)


def settle(threshold: float = 0.2, timeout: float = 180) -> float:
    """Wait until the machine is quiet (Flower digesting the previous run's events, Redis
    rewriting its AOF, …), so each run starts from the same idle state; seconds waited."""
    return seconds_until(lambda: busy_share(2.0) < threshold, timeout=timeout, interval=0)


def drain_once(platform: Platform, config: str, task: str, count: int) -> dict[str, Any]:
    """Preload `count` tasks with no worker running, let the machine settle, start the workers,
    time first → last."""
    name, kwargs = TASKS[task]
    units = worker_units()
    hosts.systemctl(LAB.worker_hosts, "stop", *units)
    cpu_started = time.process_time()
    ids = platform.publish(name, count, kwargs, queue="default")
    publisher_cpu = time.process_time() - cpu_started
    settle()
    started = time.time()
    if config == "tuned":
        hosts.systemctl(LAB.worker_hosts, "start", *units)
    else:
        start_stock_workers()
    try:
        done = platform.completion_times(ids, timeout=600)
    finally:
        if config == "stock":
            hosts.systemctl(LAB.worker_hosts, "stop", STOCK_UNIT)
        hosts.systemctl(LAB.worker_hosts, "start", *units)
    if len(done) < 2:
        raise RuntimeError(f"only {len(done)} of {count} tasks completed: are workers running?")
    span = done[-1] - done[0]
    return {
        "config": config,
        "task": task,
        "tasks": count,
        "completed": len(done),
        "seconds": round(span, 3),
        "per_second": round(len(done) / span, 1),
        "publisher_cpu_ms_per_task": round(publisher_cpu / count * 1000, 3),
        "start_to_first": round(done[0] - started, 2),
    }


def drain(platform: Platform, repetitions: int, counts: dict[str, int]) -> list[dict[str, Any]]:
    runs = []
    for repetition in range(repetitions):
        for task, count in counts.items():
            for config in ("tuned", "stock"):  # interleaved: drift hits both alike
                run = drain_once(platform, config, task, count)
                run["repetition"] = repetition + 1
                print(f"  drain {config:5} {task:11} rep {repetition + 1}: {run['per_second']}/s")
                runs.append(run)
    return runs


def capacity_while_publishing(drain_rate: float, publisher_ms: float, cores: int) -> float:
    """Tasks per second the machine sustains when the publisher shares its cores: a drained
    task costs cores / drain_rate CPU-seconds (the drain keeps every core busy), publishing one
    adds publisher_ms; r * (cores / drain_rate + publisher_ms / 1000) = cores."""
    return 1 / (1 / drain_rate + publisher_ms / 1000 / cores)


def summarise_drain(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for task in dict.fromkeys(r["task"] for r in runs):
        row: dict[str, Any] = {"task": task}
        for config in ("tuned", "stock"):
            rates = [r["per_second"] for r in runs if r["task"] == task and r["config"] == config]
            row[config] = {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}
        row["ratio"] = round(row["tuned"]["median"] / row["stock"]["median"], 2)
        row["publisher_cpu_ms_per_task"] = statistics.median(
            r["publisher_cpu_ms_per_task"] for r in runs if r["task"] == task
        )
        rows.append(row)
    return rows


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


def use_config(platform: Platform, config: str) -> None:
    """Serve queue `default` with the tuned workers (as deployed) or with stock Celery (the
    tuned group of `default` stopped), and wait until every node of that kind answers."""
    units = worker_units()
    if config == "tuned":
        for host in LAB.worker_hosts:  # a transient unit: gone once stopped
            hosts.sh(host, f"systemctl stop {STOCK_UNIT} 2>/dev/null; true")
        hosts.systemctl(LAB.worker_hosts, "start", *units)
        expected = LAB.expected_workers()
        seconds_until(lambda: platform.active_queues() == expected, timeout=120, interval=1)
        return
    hosts.systemctl(LAB.worker_hosts, "stop", *units)
    start_stock_workers()
    nodes = [f"stock@{host}" for host in LAB.worker_hosts]
    seconds_until(lambda: all(platform.pings(node) for node in nodes), timeout=120, interval=1)


def enqueue_to_start(
    platform: Platform, config: str, rate: float, seconds: float
) -> dict[str, Any]:
    """Canary tasks at a fixed offered rate to `config`'s workers on a settled machine: each
    one's start (the task's own clock) minus its publish time (one machine, one clock). The
    publisher runs here, on the same two cores as the lab: its CPU share is reported."""
    celery = platform.celery
    use_config(platform, config)
    for _ in range(20):  # connections made, code paths warm: start-up is not latency
        celery.send_task(CANARY, queue="default").get(timeout=30)
    settle()
    sent: list[tuple[str, float]] = []
    started, cpu_started = time.monotonic(), time.process_time()
    with celery.producer_or_acquire() as producer:
        for n in range(int(rate * seconds)):
            pause = started + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            at = time.time()
            sent.append((celery.send_task(CANARY, queue="default", producer=producer).id, at))
    publish_seconds = time.monotonic() - started
    publisher_cpu = time.process_time() - cpu_started
    # In publish order, so a tail can be placed in time (a stall hits a run of tasks).
    latencies = [celery.AsyncResult(task_id).get(timeout=120)["at"] - at for task_id, at in sent]
    return {
        "config": config,
        "offered_per_second": rate,
        "sent": len(sent),
        "published_per_second": round(len(sent) / publish_seconds, 1),
        "publisher_cpu_share": round(publisher_cpu / publish_seconds, 3),
        "enqueue_to_start": percentiles(latencies),
        "enqueue_to_start_seconds": [round(value, 6) for value in latencies],  # publish order
    }


def latency(
    platform: Platform, capacity: float, shares: tuple[float, ...], seconds: float
) -> list[dict[str, Any]]:
    """Enqueue → start at each share of `capacity` (the tuned drain rate the machine sustains
    while it also publishes), tuned and stock (interleaved); the tuned workers serve again
    afterwards."""
    runs = []
    try:
        for share in shares:
            rate = round(capacity * share)
            for config in ("tuned", "stock"):
                run = enqueue_to_start(platform, config, rate, seconds)
                run["load_share"] = share
                e2s = run["enqueue_to_start"]
                print(
                    f"  latency {config:5} {share:.0%} ({rate}/s): p50 {e2s['p50_ms']} ms, "
                    f"p99 {e2s['p99_ms']} ms, max {e2s['max_ms']} ms"
                )
                runs.append(run)
    finally:
        use_config(platform, "tuned")
    return runs


def round_trips(platform: Platform, count: int) -> dict[str, float]:
    """`delay().get()` one task at a time on the tuned workers."""
    trips = []
    for _ in range(count):
        begun = time.perf_counter()
        platform.celery.send_task(CANARY, queue="default").get(timeout=30)
        trips.append(time.perf_counter() - begun)
    return percentiles(trips)


# redis-benchmark (Redis 7.0) reads no REDISCLI_AUTH: its password can only go on its command
# line. It gets a throwaway ACL user instead of a real one: a random password, only the keys
# and commands of the LPUSH/RPOP tests, created for the run and deleted after it.
BENCH_USER = "matchbot-bench"
BENCH_RULES = "resetkeys ~mylist* resetchannels -@all +ping +lpush +rpop"


def redis_ceiling(admin_password: str) -> dict[str, float]:
    """redis-benchmark on the Redis host: LPUSH and RPOP, 50 clients, loopback."""
    tls = f" --tls --cacert {HOST_CA_FILE}" if LAB.tls else ""
    admin = f"redis-cli --no-auth-warning -p 6379 --user admin{tls}"
    throwaway = secrets.token_hex(24)
    auth = {"REDISCLI_AUTH": admin_password, "BENCH_AUTH": throwaway}
    # printf is a shell builtin: the throwaway password reaches redis-cli on stdin.
    create = f"printf 'ACL SETUSER {BENCH_USER} on >%s {BENCH_RULES}\\n' \"$BENCH_AUTH\""
    hosts.sh(LAB.redis_host, f"{create} | {admin}", secrets=auth)
    try:
        out = hosts.sh(
            LAB.redis_host,
            f'redis-benchmark -p 6379{tls} --user {BENCH_USER} -a "$BENCH_AUTH" -t lpush,rpop '
            "-n 200000 -q 2>/dev/null",
            secrets={"BENCH_AUTH": throwaway},
        )
    finally:
        hosts.sh(LAB.redis_host, f"{admin} ACL DELUSER {BENCH_USER}", secrets=auth)
    rates = {}
    for line in out.replace("\r", "\n").splitlines():
        if "requests per second" in line:
            name, _, rest = line.partition(":")
            rates[name.strip()] = float(rest.split()[0])
    return rates


def recovery(platform: Platform) -> dict[str, float]:
    """Worker SIGKILL → the node answers a ping again; Redis restart → first round trip."""
    worker = LAB.worker_hosts[0]
    node = f"cpu@{worker}"
    hosts.sh(worker, "systemctl kill --kill-whom=main --signal=SIGKILL matchbot-worker-cpu")
    worker_back = seconds_until(lambda: platform.pings(node), timeout=120, interval=0)
    hosts.sh(LAB.redis_host, "systemctl restart redis-server@broker")
    restarted = time.monotonic()

    def round_trip() -> bool:
        try:
            return bool(platform.run_task(CANARY, timeout=2)["state"] == "SUCCESS")
        except Exception:  # the broker is still away: try again
            return False

    seconds_until(round_trip, timeout=120, interval=0)
    return {
        "worker_sigkill_to_registered_s": round(worker_back, 1),
        "redis_restart_to_round_trip_s": round(time.monotonic() - restarted, 1),
    }


def deploy(cold: bool) -> dict[str, Any]:
    """site.yml on the lab (cold: the hosts were just created); seconds and changed tasks. It
    starts on a settled machine: right after a cold deploy the new services are still starting
    (first backups, Flower, exporters), which an operator's next run would not meet."""
    settle()
    run = run_playbook(ROOT / "site.yml", LAB.inventory)
    if run.returncode != 0:
        raise RuntimeError("\n".join(run.messages()) or run.text[-3000:])
    runs = task_runs(run.report)
    return {
        "kind": "cold" if cold else "idempotent",
        "seconds": round(run.seconds, 1),
        "changed": sum(run.changed_per_host().values()),
        "tasks": len(runs),
        "seconds_by_role": seconds_by_role(runs),
    }


Span = tuple[datetime, datetime]


def span_of(duration: dict[str, str]) -> Span | None:
    """A json callback task's start and end, when it has both."""
    if "start" not in duration or "end" not in duration:
        return None
    start, end = (
        datetime.fromisoformat(duration[k].replace("Z", "+00:00")) for k in ("start", "end")
    )
    return start, end


def widen(span: Span | None, other: Span | None) -> Span | None:
    if span is None or other is None:
        return span or other
    return min(span[0], other[0]), max(span[1], other[1])


def task_runs(report: dict[str, Any]) -> list[tuple[str, float]]:
    """Each task of the run, in order, as (name, wall-clock seconds from its first host's start
    to its last host's end). The json callback writes one entry per task under Ansible's own
    strategies and one per task and host under Mitogen's: consecutive entries of one task are
    merged, so both count tasks and seconds alike."""
    merged: list[tuple[str, str, Span | None]] = []
    for play in report["plays"]:
        for entry in play["tasks"]:
            task = entry["task"]
            span = span_of(task.get("duration", {}))
            if merged and merged[-1][0] == task["id"]:
                merged[-1] = (task["id"], merged[-1][1], widen(merged[-1][2], span))
            else:
                merged.append((task["id"], task["name"], span))
    return [
        (name, (span[1] - span[0]).total_seconds() if span else 0.0) for _, name, span in merged
    ]


def seconds_by_role(runs: list[tuple[str, float]]) -> dict[str, float]:
    """Wall-clock seconds of each role's tasks (playbook tasks under "(plays)"), largest
    first: what the profile_tasks callback sums."""
    spent: dict[str, float] = {}
    for name, seconds in runs:
        role = name.split(" : ")[0] if " : " in name else "(plays)"
        spent[role] = spent.get(role, 0.0) + seconds
    ranked = sorted(spent.items(), key=lambda item: item[1], reverse=True)
    return {role: round(seconds, 1) for role, seconds in ranked}


# The lab with Redis in clear text, for the cost of TLS: the inventory's TLS turned off for one
# deploy, and the app told that plaintext is deliberate (production refuses it otherwise).
PLAINTEXT = (
    "-e",
    '{"matchbot_tls": false, "app_deploy_settings": {"REDIS_ALLOW_PLAINTEXT": "true"}}',
)


def redeploy(*extra: str) -> float:
    """The lab hosts created afresh and site.yml run with `extra`; seconds of the deploy."""
    lab = ROOT / "playbooks" / "lab.yml"
    steps = ((lab, ("-e", "lab_state=absent")), (lab, ()), (ROOT / "site.yml", extra))
    for playbook, args in steps:
        run = run_playbook(playbook, LAB.inventory, *args)
        if run.returncode != 0:
            raise RuntimeError("\n".join(run.messages()) or run.text[-3000:])
    return round(run.seconds, 1)


def transport(platform: Platform, repetitions: int, trips: int) -> dict[str, Any]:
    """Tuned no-op drain rate and delay().get() round trips on the lab as deployed."""
    rates = [
        drain_once(platform, "tuned", "no-op", DRAIN_TASKS["no-op"])["per_second"]
        for _ in range(repetitions)
    ]
    expected = LAB.expected_workers()
    seconds_until(lambda: platform.active_queues() == expected, timeout=120, interval=1)
    return {
        "drain_per_second": {
            "median": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
        },
        "round_trip": round_trips(platform, trips),
    }


def tls_cost(platform: Platform, repetitions: int, trips: int = 200) -> list[dict[str, Any]]:
    """The same measures with TLS on (the lab as the inventory deploys it) and off (the lab
    recreated and deployed in plaintext), then the lab restored to the inventory's TLS."""
    rows = [{"tls": "on", **transport(platform, repetitions, trips)}]
    print(f"  TLS on: {rows[0]['drain_per_second']['median']}/s")
    print("  Recreating the lab in plaintext")
    redeploy(*PLAINTEXT)
    plaintext = Platform.of(LAB.app_host)
    rows.append({"tls": "off", **transport(plaintext, repetitions, trips)})
    print(f"  TLS off: {rows[1]['drain_per_second']['median']}/s")
    print("  Recreating the lab as the inventory says (TLS on)")
    redeploy()
    return rows
