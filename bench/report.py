"""docs/benchmarks.md (tables, targets), docs/benchmarks.png (drain throughput) and
docs/benchmarks-latency.png (enqueue → start distribution) from the results, drawn with
matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # no pyplot: no display, no global state

NOTES = Path(__file__).with_name("notes.md")


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    idempotent = next(d for d in r["deploy"] if d["kind"] == "idempotent")
    no_op = r["drain"][0]
    p99 = r["latency"]["enqueue_to_start"]["p99_ms"]
    back = r["recovery"]["worker_sigkill_to_registered_s"]
    return [
        ("tuned drain ≥ 2x stock (no-op)", f"{no_op['ratio']}x", no_op["ratio"] >= 2),
        ("p99 enqueue → start ≤ 20 ms at half load", f"{p99} ms", p99 <= 20),
        (
            "idempotent re-run ≤ 60 s, changed=0",
            f"{idempotent['seconds']} s, changed={idempotent['changed']}",
            idempotent["seconds"] <= 60 and idempotent["changed"] == 0,
        ),
        ("worker registered ≤ 10 s after SIGKILL", f"{back} s", back <= 10),
    ]


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
        f"Run {r['when']} by `scripts/bench` on the lab stack (4 Docker systemd hosts on one "
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
    lat = r["latency"]
    e2s, rtt = lat["enqueue_to_start"], lat["round_trip"]
    ceiling = r["redis_ceiling"]
    recovery = r["recovery"]
    best = max(row["tuned"]["median"] for row in r["drain"])
    lines += [
        "",
        "## Latency",
        "",
        f"Offered {lat['offered_per_second']}/s for 10 s (published "
        f"{lat['published_per_second']}/s, {lat['sent']} tasks), no-op task on queue `default`.",
        "",
        "| Measure | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|",
        f"| enqueue → start (ms) | {e2s['p50_ms']} | {e2s['p95_ms']} | {e2s['p99_ms']} | "
        f"{e2s['max_ms']} |",
        f"| `delay().get()` round trip (ms) | {rtt['p50_ms']} | {rtt['p95_ms']} | "
        f"{rtt['p99_ms']} | {rtt['max_ms']} |",
        "",
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
    """Cumulative distribution of enqueue → start, log scale, with p50/p99 marked."""
    seconds = sorted(r["latency"]["enqueue_to_start_seconds"])
    milliseconds = [value * 1000 for value in seconds]
    shares = [(index + 1) / len(milliseconds) for index in range(len(milliseconds))]
    figure = Figure(figsize=(7, 4), dpi=110)
    axes = figure.subplots()
    axes.step(milliseconds, shares, where="post", color="#2b6cb0", label="tuned")
    for name in ("p50_ms", "p99_ms"):
        value = r["latency"]["enqueue_to_start"][name]
        axes.axvline(value, linestyle="--", color="#718096", linewidth=1)
        axes.annotate(f"{name[:3]} {value} ms", (value, 0.05), rotation=90, fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("enqueue → start (ms, log scale)")
    axes.set_ylabel("share of tasks")
    axes.set_title(f"Enqueue → start at {r['latency']['offered_per_second']}/s offered")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)


def write(r: dict[str, Any], docs: Path) -> None:
    (docs / "benchmarks.md").write_text(markdown(r))
    drain_chart(r, docs / "benchmarks.png")
    if "enqueue_to_start_seconds" in r["latency"]:
        latency_chart(r, docs / "benchmarks-latency.png")
