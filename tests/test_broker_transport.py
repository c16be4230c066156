"""The broker transport (app.core.broker_transport) against a real Redis with the role's ACLs.

The point of the transport: a consumer process killed right after the broker handed it a
message must not take the message with it. Each test kills a real consumer process at exactly
that moment (the queue is empty, the reply not yet read) and looks where the message went.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT, RedisServer, wait_until
from kombu import Connection, Consumer, Exchange, Queue

OURS = "app.core.broker_transport:Transport"
STOCK = "kombu.transport.redis:Transport"
QUEUE = "celery-transport-drill"  # covered by the Celery user's key patterns; no worker reads it

PROGRAMS = ROOT / "tests" / "programs"


def publish(url: str, transport: str, body: dict[str, Any]) -> None:
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with Connection(url, transport=transport) as connection:
        producer = connection.Producer()
        producer.publish(body, exchange=queue.exchange, routing_key=QUEUE, declare=[queue])


def kill_consumer_after_fetch(url: str, transport: str, broker: RedisServer) -> None:
    """Start a consumer, let Redis hand it the message, SIGKILL it before it reads the reply."""
    consumer = subprocess.Popen(
        [sys.executable, str(PROGRAMS / "fetch_and_hang.py"), url, transport, QUEUE],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert consumer.stdout is not None
        assert consumer.stdout.readline() == b"fetching\n"
        wait_until(lambda: broker.client().llen(QUEUE) == 0)
    finally:
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=10)


def unacked_bodies(broker: RedisServer) -> dict[str, str]:
    """Delivery tag → raw envelope of every unacknowledged message on the drill queue."""
    found = {}
    for tag, value in broker.client().hgetall("unacked").items():
        envelope, _exchange, routing_key = json.loads(value)
        if routing_key == QUEUE:
            found[tag] = envelope["body"]
    return found


@pytest.fixture
def drill_queue(broker: RedisServer) -> Any:
    yield
    admin = broker.client()
    for tag in unacked_bodies(broker):
        admin.zrem("unacked_index", tag)
        admin.hdel("unacked", tag)
    admin.delete(QUEUE, f"{QUEUE}\x06\x16wake")


def test_stock_kombu_loses_a_message_when_the_consumer_dies_after_the_fetch(broker, drill_queue):
    """Why the transport exists: kombu's BRPOP takes the message out before it is recorded."""
    url = broker.url("celery")
    publish(url, STOCK, {"n": 1})
    kill_consumer_after_fetch(url, STOCK, broker)
    assert broker.client().llen(QUEUE) == 0
    assert unacked_bodies(broker) == {}  # in neither place: lost


def test_a_message_survives_its_consumer_dying_after_the_fetch(broker, drill_queue):
    url = broker.url("celery")
    publish(url, OURS, {"n": 2})
    kill_consumer_after_fetch(url, OURS, broker)
    [(tag, _body)] = unacked_bodies(broker).items()

    # What a surviving worker does once the visibility timeout has passed.
    with Connection(url, transport=OURS) as connection:
        connection.default_channel.qos.restore_by_tag(tag)
        received: list[Any] = []
        queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
        with Consumer(connection, [queue], accept=["json"], callbacks=[on_message(received)]):
            connection.drain_events(timeout=10)
    assert received == [{"n": 2}]
    assert unacked_bodies(broker) == {}


def on_message(received: list[Any]) -> Any:
    def callback(body: Any, message: Any) -> None:
        received.append(body)
        message.ack()

    return callback


def test_no_ack_consumers_leave_nothing_to_redeliver(celery_client, worker, broker):
    """Control replies (ping, inspect) are read without acknowledgement: none may wait in
    `unacked` to be redelivered later."""
    assert any(worker in reply for reply in celery_client.control.ping(timeout=2))
    pending = [json.loads(value)[1] for value in broker.client().hvals("unacked")]
    assert "reply.celery.pidbox" not in pending


def test_wake_marks_of_queues_nobody_reads_expire(broker, drill_queue):
    """A publish to a queue without consumers (the control replies of a process that is gone)
    leaves a wake mark; it must expire rather than pile up."""
    publish(broker.url("celery"), OURS, {"n": 3})
    assert broker.client().pttl(f"{QUEUE}\x06\x16wake") > 0


def test_a_burst_of_tasks_leaves_no_wake_marks_behind(celery_client, worker, broker):
    results = [celery_client.send_task("app.tasks.health.canary") for _ in range(50)]
    assert all(result.get(timeout=60) for result in results)
    wait_until(lambda: broker.client().exists("default\x06\x16wake") == 0)


def delivery_order(url: str, transport: str, run: str) -> list[str]:
    """Publish to two queues with mixed priorities, then consume both with one consumer (as a
    worker does for its queues): the order in which the messages arrive."""
    names = [f"celery-priority-{run}-{letter}" for letter in "ab"]
    queues = [Queue(n, Exchange(n), routing_key=n, max_priority=9) for n in names]
    published = [(q, priority) for priority in (0, 9, 3, 6) for q in range(2) for _ in range(2)]
    with Connection(url, transport=transport) as connection:
        producer = connection.Producer()
        for index, (q, priority) in enumerate(published):
            producer.publish(
                {"id": f"{'ab'[q]}{priority}-{index}"},
                exchange=queues[q].exchange,
                routing_key=names[q],
                declare=[queues[q]],
                priority=priority,
            )
        received: list[Any] = []
        with Consumer(connection, queues, accept=["json"], callbacks=[on_message(received)]):
            while len(received) < len(published):
                connection.drain_events(timeout=10)
    return [body["id"] for body in received]


def test_priorities_and_round_robin_over_queues_match_stock_kombu(broker):
    url = broker.url("celery")
    stock, ours = delivery_order(url, STOCK, "stock"), delivery_order(url, OURS, "ours")
    assert ours == stock
    by_priority = [int(ident.split("-")[0][1:]) for ident in ours]
    assert by_priority == sorted(by_priority, reverse=True) or by_priority == sorted(by_priority)
    assert [ident[0] for ident in ours[:4]] == ["a", "b", "a", "b"]  # the queues take turns
    assert unacked_bodies(broker) == {}
