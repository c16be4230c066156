"""A randomized SIGKILL soak of app.core.broker_transport: several consumers on two queues with
priorities, killed at random while they work; at the end nothing is missing. Duplicates (a
message that was running when its consumer died runs again) are counted and printed."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import ROOT, RedisServer
from kombu import Connection, Exchange, Queue

from labkit.waiting import poll

MESSAGES = 1500
CONSUMERS = 3
KILLS = 25
QUEUES = ("celery-soak-a", "celery-soak-b")
PROGRAM = ROOT / "tests" / "programs" / "soak_consumer.py"


def start_consumer(broker: RedisServer, run: str) -> subprocess.Popen[bytes]:
    urls = (broker.url("celery"), broker.url("admin"))
    consumer = subprocess.Popen(
        [sys.executable, str(PROGRAM), *urls, run, *QUEUES], cwd=ROOT, stdout=subprocess.PIPE
    )
    assert consumer.stdout is not None
    assert consumer.stdout.readline() == b"consuming\n"
    return consumer


@pytest.mark.slow
def test_random_sigkills_lose_no_message(broker: RedisServer, figures: Any) -> None:
    url, run = broker.url("celery"), f"{time.time_ns()}"
    admin = broker.client()
    queues = [Queue(n, Exchange(n), routing_key=n, max_priority=9) for n in QUEUES]
    with Connection(url, transport="app.core.broker_transport:Transport") as connection:
        producer = connection.Producer()
        for index in range(MESSAGES):
            queue = queues[index % 2]
            producer.publish(
                {"id": index},
                exchange=queue.exchange,
                routing_key=queue.name,
                declare=[queue],
                priority=random.choice((0, 9)),  # noqa: S311
            )
    counted = f"celery-soak-{run}"
    consumers = [start_consumer(broker, run) for _ in range(CONSUMERS)]
    kills, started = 0, time.monotonic()
    try:
        while kills < KILLS and admin.hlen(counted) < MESSAGES:
            time.sleep(random.uniform(0.3, 1.0))  # noqa: S311 - when the next kill lands
            victim = consumers.pop(random.randrange(len(consumers)))  # noqa: S311
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            kills += 1
            consumers.append(start_consumer(broker, run))
        done = poll(lambda: admin.hlen(counted) >= MESSAGES, timeout=120, interval=0.5)
    finally:
        for consumer in consumers:
            consumer.send_signal(signal.SIGTERM)
        for consumer in consumers:
            consumer.wait(timeout=30)
    counts = {int(k): int(v) for k, v in admin.hgetall(counted).items()}
    result = {
        "messages": MESSAGES,
        "kills": kills,
        "seconds": round(time.monotonic() - started, 1),
        "completed": len(counts),
        "missing": MESSAGES - len(counts),
        "duplicated": sum(1 for runs in counts.values() if runs > 1),
    }
    figures.record("Transport: redelivery", test="random SIGKILL soak", **result)
    assert done, result
    assert result["missing"] == 0, result
