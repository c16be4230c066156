"""Where a tuned worker's time goes under drain: py-spy samples the worker of queue `default`
(threads pool: the tasks run in its main process) on one worker host while it drains a
preloaded backlog of no-op tasks, and writes a flame graph (SVG) and the top functions by own
time. py-spy comes from the controller's virtualenv (its wheel is a static binary) and is
copied to the host for the run; it reads the process from outside (SYS_PTRACE), so the worker
runs unmodified."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from bench.measure import LAB, TASKS, worker_units
from labkit import hosts
from labkit.platform import Platform

HOST_FOLDER = "/root/matchbot-bench"  # root's: py-spy runs as root
HOST_BINARY = f"{HOST_FOLDER}/py-spy"
HOST_OUTPUT = f"{HOST_FOLDER}/drain"
RATE_HZ = 200


def install_py_spy(host: str) -> None:
    binary = shutil.which("py-spy")
    if binary is None:
        raise RuntimeError("py-spy is not on PATH: scripts/bench installs it into the virtualenv")
    hosts.sh(
        host,
        f"install -d -m 0700 {HOST_FOLDER} && cat > {HOST_BINARY} && chmod 0755 {HOST_BINARY}",
        stdin=Path(binary).read_bytes(),
    )


def drain_profile(platform: Platform, count: int, seconds: int, out: Path) -> dict[str, Any]:
    """Profile the `default` worker of the first worker host for `seconds` while every worker
    drains `count` no-op tasks; write `out` (SVG); the top own-time functions and the shares
    of COSTS."""
    host = LAB.worker_hosts[0]
    install_py_spy(host)
    units = worker_units()
    name, kwargs = TASKS["no-op"]
    hosts.systemctl(LAB.worker_hosts, "stop", *units)
    ids = platform.publish(name, count, kwargs, queue="default")
    hosts.systemctl(LAB.worker_hosts, "start", *units)
    [group] = [g for g in LAB.worker_groups if "default" in g["queues"]]
    pid = hosts.main_pid(host, f"matchbot-worker-{group['name']}")
    # Sample once the backlog flows (the first completions), not the worker's start-up.
    first = platform.completion_times(ids[:1], timeout=120)
    if not first:
        raise RuntimeError("the first task did not complete: is the default worker running?")
    common = f"--pid {pid} --rate {RATE_HZ} --duration {seconds} --nonblocking"
    hosts.sh(
        host,
        f"{HOST_BINARY} record {common} --format flamegraph -o {HOST_OUTPUT}.svg >/dev/null "
        f"2>&1 & {HOST_BINARY} record {common} --format raw -o {HOST_OUTPUT}.txt >/dev/null 2>&1; "
        "wait",
        timeout=seconds + 60,
    )
    platform.completion_times(ids, timeout=600)
    out.write_bytes(hosts.run(host, f"cat {HOST_OUTPUT}.svg").stdout)
    collapsed = hosts.sh(host, f"cat {HOST_OUTPUT}.txt")
    return {"top_own": top_functions(collapsed), "costs": inclusive_shares(collapsed)}


# Where a task's cost lands, by the frame that covers it (inclusive time).
COSTS = {
    "fetch: pop script and hand-over (event loop)": "Channel._brpop_read",
    "task events published (event loop)": "EventDispatcher.flush",
    "task run and bookkeeping (pool threads)": "fast_trace_task",
    "result write (pool threads)": "Backend.store_result",
    "acknowledgement (pool threads)": "Channel.basic_ack",
    "log lines (every handler)": "Logger._log",
    "waiting on Redis replies (TLS reads)": "SSLSocket.read",
}


def samples(collapsed: str) -> list[tuple[list[str], int]]:
    """py-spy's collapsed stacks (`frame;frame;… count` per line) as (frames, count)."""
    found = []
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            found.append((stack.split(";"), int(count)))
    return found


def inclusive_shares(collapsed: str) -> dict[str, float]:
    """Share of the samples under each frame of COSTS (a sample counts once per frame)."""
    under = dict.fromkeys(COSTS, 0)
    stacks = samples(collapsed)
    for frames, count in stacks:
        names = {frame.split(" (")[0] for frame in frames}
        for cost, frame in COSTS.items():
            if frame in names:
                under[cost] += count
    total = max(1, sum(count for _, count in stacks))
    return {cost: round(n / total, 3) for cost, n in under.items()}


def top_functions(collapsed: str, limit: int = 15) -> list[str]:
    """Own time per function (the innermost frame of each sample), as `share  function (file)`
    lines; py-spy leaves idle threads out of its samples."""
    own: dict[str, int] = {}
    stacks = samples(collapsed)
    for frames, count in stacks:
        own[frames[-1]] = own.get(frames[-1], 0) + count
    total = max(1, sum(count for _, count in stacks))
    ranked = sorted(own.items(), key=lambda item: item[1], reverse=True)
    return [f"{count / total:6.1%}  {leaf}" for leaf, count in ranked[:limit]]


def main() -> None:
    """python -m bench.profile: profile on the running lab, write docs/drain-profile.svg."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    lab = Platform.of(LAB.app_host, LAB.ca_file if LAB.tls else None)
    started = time.monotonic()
    found = drain_profile(lab, 6000, 10, docs / "drain-profile.svg")
    for line in found["top_own"]:
        print(line)
    for cost, share in found["costs"].items():
        print(f"{share:6.1%}  {cost}")
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
