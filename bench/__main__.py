"""python -m bench [--repetitions N] [--skip-cold]: run every benchmark on the lab stack and
write docs/benchmarks.{json,md,png}. scripts/bench sets up the venv and the lab first."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import measure, profile, report
from labkit import hosts
from labkit.platform import Platform

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Loads for enqueue → start: shares of the tuned drain rate the machine sustains while the
# publisher, on the same cores, takes its share (measure.capacity_while_publishing).
LOAD_SHARES = (0.25, 0.5)


def machine() -> dict[str, Any]:
    # The hosts run the same pins as this controller (requirements/constraints.txt).
    versions = {
        "celery": version("celery"),
        "kombu": version("kombu"),
        "redis-py": version("redis"),
        "python": sys.version.split()[0],
    }
    ansible = subprocess.run(["ansible", "--version"], capture_output=True, text=True, check=True)
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "redis_server": hosts.sh(measure.LAB.redis_host, "redis-server --version")
        .split()[2]
        .removeprefix("v="),
        "ansible_core": ansible.stdout.split("\n")[0].split()[-1].rstrip("]"),
        **versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true", help="the lab exists; no cold deploy")
    args = parser.parse_args()
    results: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    DOCS.mkdir(exist_ok=True)
    deploys = []
    if not args.skip_cold:
        print("Cold deploy of the freshly created lab hosts")
        deploys.append(measure.deploy(cold=True))
    print("Idempotent re-run")
    deploys.append(measure.deploy(cold=False))
    results["deploy"] = deploys
    results["machine"] = machine()
    lab = Platform.of(measure.LAB.app_host, measure.LAB.ca_file if measure.LAB.tls else None)
    print("Drain throughput, tuned vs stock")
    runs = measure.drain(lab, args.repetitions, measure.DRAIN_TASKS)
    results["drain_runs"] = runs
    results["drain"] = measure.summarise_drain(runs)
    print("Profile of a tuned worker under drain (py-spy)")
    results["profile"] = profile.drain_profile(lab, 6000, 10, DOCS / "drain-profile.svg")
    no_op = results["drain"][0]
    capacity = measure.capacity_while_publishing(
        no_op["tuned"]["median"], no_op["publisher_cpu_ms_per_task"], os.cpu_count() or 1
    )
    results["latency_capacity_per_second"] = round(capacity, 1)
    print(
        f"Latency at 25 % and 50 % of {capacity:.0f}/s (the tuned no-op drain, "
        f"{no_op['tuned']['median']}/s, less the publisher's "
        f"{no_op['publisher_cpu_ms_per_task']} ms of CPU per task on the same cores)"
    )
    results["latency"] = measure.latency(lab, capacity, LOAD_SHARES, seconds=10)
    print("Round trips")
    results["round_trip"] = measure.round_trips(lab, 200)
    print("Redis ceiling")
    results["redis_ceiling"] = measure.redis_ceiling(measure.LAB.secret("redis-admin"))
    print("Recovery")
    results["recovery"] = measure.recovery(lab)
    print("The cost of TLS: the same measures with TLS on and off")
    results["tls"] = measure.tls_cost(lab, args.repetitions)
    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, DOCS)
    print((DOCS / "benchmarks.md").read_text())


if __name__ == "__main__":
    main()
