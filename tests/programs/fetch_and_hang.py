"""fetch_and_hang.py URL TRANSPORT QUEUE [OPTIONS [PREFETCH]]: consume QUEUE (OPTIONS: transport
options as JSON; PREFETCH: the consumer's prefetch count), let the broker hand over what it
fetches, print "fetching", then hang before reading the reply (the test kills this process)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from kombu import Connection, Consumer, Exchange, Queue


def ignore(body: Any, message: Any) -> None:
    """Never called: the process dies before it reads the message."""


def main() -> None:
    url, transport, name = sys.argv[1:4]
    options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    prefetch = int(sys.argv[5]) if len(sys.argv) > 5 else None
    queue = Queue(name, Exchange(name), routing_key=name)
    with Connection(url, transport=transport, transport_options=options) as connection:
        channel = connection.default_channel
        consumer = Consumer(
            channel, [queue], accept=["json"], callbacks=[ignore], prefetch_count=prefetch
        )
        consumer.consume()
        connection.transport.cycle.on_poll_start()  # the event loop asks for a message
        print("fetching", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main()
