"""docs/benchmarks.md (tables, targets), docs/benchmarks.png (drain throughput) and
docs/benchmarks-latency.png (enqueue → start distribution) from the results, drawn with
matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # no pyplot: no display, no global state

NOTES = Path(__file__).with_name("notes.md")


def latency_run(r: dict[str, Any], config: str, share: float) -> dict[str, Any]:
    return next(x for x in r["latency"] if x["config"] == config and x["load_share"] == share)


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    deploys = {d["kind"]: d for d in r["deploy"]}
    ratio = {row["task"]: row["ratio"] for row in r["drain"]}
    quarter = latency_run(r, "tuned", 0.25)["enqueue_to_start"]["p99_ms"]
    back = r["recovery"]["worker_sigkill_to_registered_s"]
    rows = [
        ("tuned drain ≥ 2x stock (no-op)", f"{ratio['no-op']}x", ratio["no-op"] >= 2),
        (
            "tuned drain ≥ 1.3x stock (fuzzy match)",
            f"{ratio['fuzzy match']}x",
            ratio["fuzzy match"] >= 1.3,
        ),
        ("p99 enqueue → start ≤ 20 ms at 25 % load (tuned)", f"{quarter} ms", quarter <= 20),
    ]
    if "idempotent" in deploys:
        idempotent = deploys["idempotent"]
        rows.append(
            (
                "idempotent site.yml ≤ 60 s, changed=0",
                f"{idempotent['seconds']} s, changed={idempotent['changed']}",
                idempotent["seconds"] <= 60 and idempotent["changed"] == 0,
            )
        )
    if "cold" in deploys:
        cold = deploys["cold"]["seconds"]
        rows.append(("cold site.yml ≤ 120 s", f"{cold} s", cold <= 120))
    rows.append(("worker registered ≤ 10 s after SIGKILL", f"{back} s", back <= 10))
    return rows


def latency_table(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Latency: enqueue → start (ms), no-op task on queue `default`",
        "",
        f"Offered for 10 s at a share of {r['latency_capacity_per_second']}/s, to the tuned "
        "workers and then to stock Celery, each on a settled machine. That rate is the tuned "
        f"no-op drain ({r['drain'][0]['tuned']['median']}/s, which keeps both cores busy) less "
        f"what the publisher, on the same cores, spends per task "
        f"({r['drain'][0]['publisher_cpu_ms_per_task']} ms of CPU): the load the machine "
        "sustains while it also publishes. The publisher's share of one core is in the last "
        "column.",
        "",
        "| Workers | Load | Offered / published (tasks/s) | p50 | p95 | p99 | max "
        "| Publisher CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in r["latency"]:
        e = run["enqueue_to_start"]
        lines.append(
            f"| {run['config']} | {run['load_share']:.0%} | {run['offered_per_second']} / "
            f"{run['published_per_second']} | {e['p50_ms']} | {e['p95_ms']} | {e['p99_ms']} | "
            f"{e['max_ms']} | {run['publisher_cpu_share']:.0%} |"
        )
    t = r["round_trip"]
    lines += [
        "",
        f"`delay().get()` round trip, one task at a time (tuned, 200 tasks): p50 {t['p50_ms']}, "
        f"p95 {t['p95_ms']}, p99 {t['p99_ms']}, max {t['max_ms']} ms.",
        "",
    ]
    return lines


def profile_section(r: dict[str, Any]) -> list[str]:
    found = r.get("profile")
    if not found:
        return []
    lines = [
        "## Where a tuned worker's time goes under drain",
        "",
        "py-spy sampled the `default` worker (threads pool) of one worker host for 10 s of a "
        "no-op drain: [flame graph](drain-profile.svg). Share of samples under each frame "
        "(a sample can count under several; threads waiting on Redis count too):",
        "",
        "| Cost | Share |",
        "|---|---|",
        *(f"| {cost} | {share:.0%} |" for cost, share in found["costs"].items()),
        "",
        "Top functions by own time: "
        + "; ".join(f"`{line.strip()}`" for line in found["top_own"][:6])
        + ".",
        "",
    ]
    return lines


def deploy_table(r: dict[str, Any]) -> list[str]:
    lines = ["## Where a deploy's time goes (seconds per role, from the task durations)", ""]
    for deploy in r["deploy"]:
        roles = deploy.get("seconds_by_role", {})
        top = ", ".join(f"{role} {seconds}" for role, seconds in list(roles.items())[:8])
        lines.append(f"- **{deploy['kind']}** ({deploy.get('tasks', '?')} tasks): {top}")
    return [*lines, ""]


def tls_table(r: dict[str, Any]) -> list[str]:
    """TLS on and off side by side (the lab recreated in plaintext for the second row)."""
    rows = r.get("tls", [])
    if not rows:
        return []
    lines = [
        "## The cost of TLS (tuned workers, no-op task)",
        "",
        "| Redis TLS | Drain median (range), tasks/s | `delay().get()` p50 / p95 / p99 (ms) |",
        "|---|---|---|",
    ]
    for row in rows:
        d, t = row["drain_per_second"], row["round_trip"]
        lines.append(
            f"| {row['tls']} | {d['median']} ({d['min']}-{d['max']}) | "
            f"{t['p50_ms']} / {t['p95_ms']} / {t['p99_ms']} |"
        )
    return [*lines, ""]


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Run {r['when']} by `scripts/bench` on the lab stack (its Docker systemd hosts on one "
        f"machine): {m['cores']} cores, {m['memory_gib']} GiB, kernel {m['kernel']}; Redis "
        f"{m['redis_server']}, Celery {m['celery']}, kombu {m['kombu']}, redis-py {m['redis-py']}, "
        f"Python {m['python']}, ansible-core {m['ansible_core']}. Raw figures: "
        "[benchmarks.json](benchmarks.json); charts: [throughput](benchmarks.png), "
        "[latency distribution](benchmarks-latency.png).",
        "",
        "## Targets",
        "",
        "| Target | Measured | Met |",
        "|---|---|---|",
        *(
            f"| {name} | {value} | {'yes' if met else '**no**'} |"
            for name, value, met in targets(r)
        ),
        "",
        "## Drain throughput (tasks/s, first to last completion, backlog preloaded)",
        "",
        "| Task | Tuned median (range) | Stock median (range) | Tuned / stock |",
        "|---|---|---|---|",
    ]
    for row in r["drain"]:
        t, s = row["tuned"], row["stock"]
        lines.append(
            f"| {row['task']} | {t['median']} ({t['min']}-{t['max']}) | "
            f"{s['median']} ({s['min']}-{s['max']}) | {row['ratio']}x |"
        )
    ceiling = r["redis_ceiling"]
    recovery = r["recovery"]
    best = max(row["tuned"]["median"] for row in r["drain"])
    lines += [
        "",
        *profile_section(r),
        *latency_table(r),
        "## Redis ceiling (redis-benchmark on the Redis host, loopback, 50 clients)",
        "",
        "| Command | Requests/s | Best tuned drain as a share |",
        "|---|---|---|",
        *(f"| {name} | {rate:.0f} | {best / rate:.1%} |" for name, rate in ceiling.items()),
        "",
        "## Deploy and recovery",
        "",
        "| Measure | Seconds | Changed |",
        "|---|---|---|",
        *(f"| site.yml, {d['kind']} | {d['seconds']} | {d['changed']} |" for d in r["deploy"]),
        f"| worker SIGKILL → registered again | {recovery['worker_sigkill_to_registered_s']} | |",
        f"| Redis restart → first round trip | {recovery['redis_restart_to_round_trip_s']} | |",
        "",
        *deploy_table(r),
        *tls_table(r),
    ]
    return "\n".join(lines) + "\n" + NOTES.read_text()


def drain_chart(r: dict[str, Any], path: Path) -> None:
    """Bars: median drain rate per task, tuned vs stock, the range of repetitions as error bars."""
    figure = Figure(figsize=(7, 4), dpi=110)
    axes = figure.subplots()
    width = 0.38
    for offset, (config, colour) in enumerate((("tuned", "#2b6cb0"), ("stock", "#a0aec0"))):
        medians = [row[config]["median"] for row in r["drain"]]
        below = [row[config]["median"] - row[config]["min"] for row in r["drain"]]
        above = [row[config]["max"] - row[config]["median"] for row in r["drain"]]
        places = [index + (offset - 0.5) * width for index in range(len(r["drain"]))]
        bars = axes.bar(
            places, medians, width, yerr=[below, above], capsize=4, label=config, color=colour
        )
        axes.bar_label(bars, fmt="%.0f", padding=3)
    axes.set_xticks(range(len(r["drain"])), [row["task"] for row in r["drain"]])
    axes.set_ylabel("tasks per second (median, range)")
    axes.set_title("Drain throughput: tuned vs stock Celery")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)


def latency_chart(r: dict[str, Any], path: Path) -> None:
    """Cumulative distribution of enqueue → start, tuned vs stock at each load, log scale."""
    figure = Figure(figsize=(7, 4), dpi=110)
    axes = figure.subplots()
    colours = {"tuned": "#2b6cb0", "stock": "#a0aec0"}
    for run in r["latency"]:
        milliseconds = sorted(value * 1000 for value in run["enqueue_to_start_seconds"])
        shares = [(index + 1) / len(milliseconds) for index in range(len(milliseconds))]
        axes.step(
            milliseconds,
            shares,
            where="post",
            color=colours[run["config"]],
            linestyle="-" if run["load_share"] <= 0.25 else "--",
            label=f"{run['config']}, {run['load_share']:.0%} load "
            f"({run['offered_per_second']}/s), p99 {run['enqueue_to_start']['p99_ms']} ms",
        )
    axes.axvline(20, linestyle=":", color="#c53030", linewidth=1)
    axes.annotate("20 ms", (20, 0.05), rotation=90, fontsize=8, color="#c53030")
    axes.set_xscale("log")
    axes.set_xlabel("enqueue → start (ms, log scale)")
    axes.set_ylabel("share of tasks")
    axes.set_title("Enqueue → start: tuned vs stock Celery")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path)


def write(r: dict[str, Any], docs: Path) -> None:
    (docs / "benchmarks.md").write_text(markdown(r))
    drain_chart(r, docs / "benchmarks.png")
    latency_chart(r, docs / "benchmarks-latency.png")
