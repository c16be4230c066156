"""soak_consumer.py URL COUNTS_URL RUN QUEUE...: consume the queues (at URL) with
acknowledgement and a prefetch of one, through app.core.broker_transport with a one-second
liveness; for each message, count it in the hash `celery-soak-<RUN>` at COUNTS_URL (field: the
message's id), hold it 20-80 ms, acknowledge it. Runs until killed."""

from __future__ import annotations

import random
import sys
import time
from typing import Any

import redis
from kombu import Connection, Consumer, Exchange, Queue

OPTIONS = {"consumer_liveness": 1, "visibility_timeout": 3600}


def main() -> None:
    url, counts_url, run, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    counts = redis.Redis.from_url(counts_url)
    queues = [Queue(n, Exchange(n), routing_key=n, max_priority=9) for n in names]

    def on_message(body: Any, message: Any) -> None:
        counts.hincrby(f"celery-soak-{run}", str(body["id"]), 1)
        time.sleep(random.uniform(0.02, 0.08))  # noqa: S311 - load shape, not security
        message.ack()

    transport = "app.core.broker_transport:Transport"
    with (
        Connection(url, transport=transport, transport_options=OPTIONS) as connection,
        Consumer(connection, queues, accept=["json"], callbacks=[on_message], prefetch_count=1),
    ):
        print("consuming", flush=True)
        while True:
            try:
                connection.drain_events(timeout=1)
            except TimeoutError:
                continue


if __name__ == "__main__":
    main()
