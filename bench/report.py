"""docs/benchmarks.md (tables, targets) and docs/benchmarks.png (drain chart) from the results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

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


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Run {r['when']} by `scripts/bench` on the lab stack (4 Docker systemd hosts on one "
        f"machine): {m['cores']} cores, {m['memory_gib']} GiB, kernel {m['kernel']}; Redis "
        f"{m['redis_server']}, Celery {m['celery']}, kombu {m['kombu']}, redis-py {m['redis-py']}, "
        f"Python {m['python']}, ansible-core {m['ansible_core']}. Raw figures: "
        "[benchmarks.json](benchmarks.json); chart: [benchmarks.png](benchmarks.png).",
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
    ]
    return "\n".join(lines) + "\n" + NOTES.read_text()


def chart(r: dict[str, Any], path: Path) -> None:
    """Bars: median drain rate per task, tuned vs stock, with the range as a line."""
    width, height, margin = 640, 360, 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top = max(row[c]["max"] for row in r["drain"] for c in ("tuned", "stock")) * 1.15
    draw.text(
        (margin, 12), "Drain throughput, tasks/s (median, range) - tuned vs stock", fill="black"
    )
    draw.line((margin, height - margin, width - 20, height - margin), fill="black")
    slot = (width - margin - 20) / len(r["drain"])
    for i, row in enumerate(r["drain"]):
        for j, (config, colour) in enumerate((("tuned", "#2b6cb0"), ("stock", "#a0aec0"))):
            figures = row[config]
            x0 = margin + i * slot + 30 + j * 80
            scale = (height - 2 * margin) / top
            y = height - margin - figures["median"] * scale
            draw.rectangle((x0, y, x0 + 60, height - margin), fill=colour)
            low = height - margin - figures["min"] * scale
            high = height - margin - figures["max"] * scale
            draw.line((x0 + 30, low, x0 + 30, high), fill="black", width=2)
            draw.text((x0, y - 14), f"{figures['median']:.0f}", fill="black")
            draw.text((x0 + 8, height - margin + 6), config, fill="black")
        draw.text((margin + i * slot + 60, height - margin + 22), row["task"], fill="black")
    image.save(path)


def write(r: dict[str, Any], docs: Path) -> None:
    (docs / "benchmarks.md").write_text(markdown(r))
    chart(r, docs / "benchmarks.png")
