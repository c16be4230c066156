"""The broker transport (app.core.broker_transport) against a real Redis with the role's ACLs.

The point of the transport: a consumer process killed right after the broker handed it a
message must not take the message with it. Each test kills a real consumer process at exactly
that moment (the queue is empty, the reply not yet read) and looks where the message went.
"""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import ROOT, RedisServer, wait_until
from kombu import Connection, Consumer, Exchange, Queue

from app.core.broker_transport import MessageTooLargeError

OURS = "app.core.broker_transport:Transport"
STOCK = "kombu.transport.redis:Transport"
QUEUE = "celery-transport-drill"  # covered by the Celery user's key patterns; no worker reads it

PROGRAMS = ROOT / "tests" / "programs"


def publish(url: str, transport: str, body: dict[str, Any]) -> None:
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with Connection(url, transport=transport) as connection:
        producer = connection.Producer()
        producer.publish(body, exchange=queue.exchange, routing_key=QUEUE, declare=[queue])


def kill_consumer_after_fetch(
    url: str,
    transport: str,
    broker: RedisServer,
    options: dict[str, Any] | None = None,
    prefetch: int = 1,
) -> float:
    """Start a consumer, let Redis hand it the messages (all of them: the test publishes no
    more than `prefetch`), SIGKILL it before it reads the reply; when it was killed
    (monotonic clock)."""
    program = [sys.executable, str(PROGRAMS / "fetch_and_hang.py"), url, transport, QUEUE]
    consumer = subprocess.Popen(
        [*program, json.dumps(options or {}), str(prefetch)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert consumer.stdout is not None
        assert consumer.stdout.readline() == b"fetching\n"
        wait_until(lambda: broker.client().llen(QUEUE) == 0)
    finally:
        consumer.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        consumer.wait(timeout=10)
    return killed


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


def received_after_reconnect(broker: RedisServer, transport: str, no_ack: bool) -> list[Any]:
    """A drain_events consumer (the backend's control.ping path) whose idle connection is
    killed, then waits longer than the health-check interval before its next call: what
    it receives of a message published meanwhile (production's connection options)."""
    name = f"celery-reconnect-{transport.split('.')[1][:5]}-{'noack' if no_ack else 'ack'}"
    url, queue = broker.url("celery"), Queue(name, Exchange(name), routing_key=name)
    options = {"health_check_interval": 1, "retry_on_timeout": True}
    received: list[Any] = []

    def on_body(body: Any, message: Any) -> None:
        received.append(body)
        if not no_ack:
            message.ack()

    admin = broker.client()
    others = {client["id"] for client in admin.client_list()}
    with (
        Connection(url, transport=transport, transport_options=options) as connection,
        Consumer(connection, [queue], accept=["json"], callbacks=[on_body], no_ack=no_ack),
    ):
        publish_to(url, transport, queue, {"n": 0})
        connection.drain_events(timeout=5)  # nothing is outstanding after this delivery
        for client in admin.client_list():  # this consumer's connections, not the worker's
            if client["id"] not in others and client.get("user") == "celery":
                admin.client_kill_filter(_id=client["id"])
        time.sleep(2.5)  # longer than the health-check interval
        publish_to(url, transport, queue, {"n": 1})
        deadline = time.monotonic() + 8
        while len(received) < 2 and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout, TimeoutError):
                connection.drain_events(timeout=1)
    return received


def publish_to(url: str, transport: str, queue: Queue, body: dict[str, Any]) -> None:
    with Connection(url, transport=transport) as connection:
        connection.Producer().publish(
            body, exchange=queue.exchange, routing_key=queue.name, declare=[queue]
        )


@pytest.mark.parametrize("no_ack", [True, False], ids=["no-ack reply", "acknowledged"])
def test_a_consumer_reconnected_by_the_health_check_gets_the_next_message(broker, no_ack):
    """The health check reconnects before the poller is pointed at the socket: the reply to
    the next fetch is read. (Stock kombu 5.7 sends the fetch on the new socket while it
    watches the old one: the message is lost, or waits in `unacked` for hours.)"""
    assert received_after_reconnect(broker, OURS, no_ack) == [{"n": 0}, {"n": 1}]


def test_stock_kombu_misses_the_message_after_that_reconnect(broker):
    """Why the ordering fix exists (a kombu 5.7 behaviour; if this fails, kombu fixed it)."""
    assert received_after_reconnect(broker, STOCK, no_ack=True) == [{"n": 0}]


# Fast redelivery: consumers prove they are alive; a dead one's messages come back in seconds.
LIVENESS = {"consumer_liveness": 1, "visibility_timeout": 3600}


def test_a_dead_consumers_message_comes_back_in_seconds_not_at_the_visibility_timeout(
    broker, drill_queue, figures
):
    url = broker.url("celery")
    publish(url, OURS, {"n": 4})
    killed = kill_consumer_after_fetch(url, OURS, broker, LIVENESS)
    assert len(unacked_bodies(broker)) == 1  # held by the dead consumer, for an hour
    received: list[Any] = []
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with (
        Connection(url, transport=OURS, transport_options=LIVENESS) as survivor,
        Consumer(survivor, [queue], accept=["json"], callbacks=[on_message(received)]),
    ):
        deadline = time.monotonic() + 30  # far below the visibility timeout (3600 s)
        while not received and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout, TimeoutError):
                survivor.drain_events(timeout=1)
    seconds = time.monotonic() - killed
    figures.record(
        "Transport: redelivery",
        test="consumer SIGKILLed after the fetch",
        seconds=round(seconds, 1),
        note="liveness 1 s, visibility timeout 3600 s",
    )
    assert received == [{"n": 4}]
    assert unacked_bodies(broker) == {}


def test_a_workers_event_loop_restores_the_dead_even_when_idle(broker, worker, drill_queue):
    """The session worker (its liveness: 1 s, tests/conftest.py) consumes other queues; its
    event loop's timer finds the dead consumer and puts the message back in its queue."""
    url = broker.url("celery")
    publish(url, OURS, {"n": 5})
    kill_consumer_after_fetch(url, OURS, broker, LIVENESS)
    assert wait_until(lambda: broker.client().llen(QUEUE) == 1, timeout=30)
    assert unacked_bodies(broker) == {}


def test_a_batch_of_messages_survives_its_consumer_dying_after_the_fetch(
    broker, worker, drill_queue
):
    """One pop takes a batch (the consumer's prefetch slots), each message recorded as held:
    SIGKILL before the reply is read, and the worker's event loop puts every one back."""
    url = broker.url("celery")
    for n in range(3):
        publish(url, OURS, {"n": n})
    kill_consumer_after_fetch(url, OURS, broker, LIVENESS, prefetch=3)
    assert len(unacked_bodies(broker)) == 3  # one fetch took all three
    assert wait_until(lambda: broker.client().llen(QUEUE) == 3, timeout=30)
    assert unacked_bodies(broker) == {}


def test_a_fetch_takes_no_more_than_the_free_prefetch_slots(broker, drill_queue):
    url = broker.url("celery")
    for n in range(5):
        publish(url, OURS, {"n": n})
    held: list[Any] = []
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with (
        Connection(url, transport=OURS) as connection,
        Consumer(
            connection,
            [queue],
            accept=["json"],
            prefetch_count=3,
            callbacks=[lambda body, message: held.append(message)],
        ),
    ):
        connection.drain_events(timeout=10)  # one fetch, delivered in one call
        assert [message.payload["n"] for message in held] == [0, 1, 2]
        assert broker.client().llen(QUEUE) == 2
        assert len(unacked_bodies(broker)) == 3
        held.pop(0).ack()  # one slot frees: the next fetch takes one message
        connection.drain_events(timeout=10)
        assert [message.payload["n"] for message in held] == [1, 2, 3]
        assert broker.client().llen(QUEUE) == 1
        for message in held:
            message.ack()
        assert unacked_bodies(broker) == {}


def test_the_rest_of_a_batch_goes_back_when_a_delivery_fails(broker, drill_queue):
    """Messages taken with one that could not be handed over return to the queue at once,
    not after the visibility timeout (their consumer lives on)."""
    url = broker.url("celery")
    for n in range(3):
        publish(url, OURS, {"n": n})

    def refuse(body: Any, message: Any) -> None:
        raise RuntimeError("delivery failed")

    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with (
        Connection(url, transport=OURS) as connection,
        Consumer(connection, [queue], accept=["json"], prefetch_count=3, callbacks=[refuse]),
    ):
        with pytest.raises(RuntimeError, match="delivery failed"):
            connection.drain_events(timeout=10)
        assert broker.client().llen(QUEUE) == 2  # the two after the failed one
        [held] = unacked_bodies(broker).values()
        assert json.loads(base64.b64decode(held)) == {"n": 0}


def test_a_long_task_on_a_live_worker_is_not_run_twice(celery_client, worker, broker, cache):
    """The task holds its worker slot for longer than the liveness (1 s); the worker's event
    loop keeps its consumer alive meanwhile, so nobody restores the message. A copy restored
    by mistake would be queued or running (in `unacked`) after the original finished."""
    batch = f"long-{time.monotonic_ns()}"
    result = celery_client.send_task(
        "app.tasks.health.tally", kwargs={"batch": batch, "index": 0, "hold_seconds": 2.5}
    )
    assert result.get(timeout=30) == 1

    def settled() -> bool:
        admin = broker.client()
        pending = admin.lrange("default", 0, -1) + admin.hvals("unacked")
        return not any(result.id in entry for entry in pending)

    assert wait_until(settled, timeout=30)
    assert cache.client().hgetall(f"cache:tally:{batch}") == {"0": "1"}


def test_wake_marks_of_restored_messages_expire(broker, drill_queue):
    """A redelivery adds a wake mark too; like a publish's, it must expire."""
    url = broker.url("celery")
    publish(url, OURS, {"n": 6})
    kill_consumer_after_fetch(url, OURS, broker)
    [(tag, _body)] = unacked_bodies(broker).items()
    broker.client().delete(f"{QUEUE}\x06\x16wake")
    with Connection(url, transport=OURS) as connection:
        connection.default_channel.qos.restore_by_tag(tag)
    assert broker.client().llen(f"{QUEUE}\x06\x16wake") == 1
    assert broker.client().pttl(f"{QUEUE}\x06\x16wake") > 0


def test_an_oversized_message_is_refused_at_publish_with_the_limit_named(broker, drill_queue):
    url = broker.url("celery")
    options = {"max_message_bytes": 64 * 1024}
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with Connection(url, transport=OURS, transport_options=options) as connection:
        producer = connection.Producer()
        producer.publish("x" * 30_000, exchange=queue.exchange, routing_key=QUEUE, declare=[queue])
        with pytest.raises(MessageTooLargeError, match="BROKER_MAX_MESSAGE_BYTES"):
            producer.publish("x" * 70_000, exchange=queue.exchange, routing_key=QUEUE)
    assert broker.client().llen(QUEUE) == 1  # the small one only


def test_a_task_over_the_limit_fails_to_send_with_a_clear_error(celery_client):
    """With the app's default limit (1 MiB): the caller gets the error, nothing is queued."""
    with pytest.raises(MessageTooLargeError, match="1048576 bytes"):
        celery_client.send_task(
            "app.tasks.health.arithmetic",
            kwargs={"operation": "sum", "operands": [1.5] * 300_000},
        )


def hold_a_message(url: str, transport: str, broker: RedisServer) -> str:
    """A message fetched and held by a consumer of `transport` (ours: through the pop
    script, by a consumer killed after the fetch); its delivery tag."""
    if transport == OURS:
        kill_consumer_after_fetch(url, OURS, broker)
    else:
        with Connection(url, transport=STOCK) as holder:
            channel = holder.default_channel
            channel.qos.restore_at_shutdown = False  # it dies holding the message
            assert channel.basic_get(QUEUE, no_ack=False) is not None
    [(tag, _body)] = unacked_bodies(broker).items()
    return tag


@pytest.mark.parametrize(
    ("fetched_by", "restored_by"), [(STOCK, OURS), (OURS, STOCK)], ids=["stock→ours", "ours→stock"]
)
def test_a_message_fetched_by_one_version_is_restored_by_the_other(
    broker, drill_queue, fetched_by, restored_by
):
    """Mixed versions during a rolling upgrade: `unacked` entries keep kombu's format, so a
    worker of either kind redelivers what a worker of the other kind held."""
    url = broker.url("celery")
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    publish(url, fetched_by, {"n": 7})
    tag = hold_a_message(url, fetched_by, broker)
    with Connection(url, transport=restored_by) as other:
        other.default_channel.qos.restore_by_tag(tag)
        received: list[Any] = []
        with Consumer(other, [queue], accept=["json"], callbacks=[on_message(received)]):
            other.drain_events(timeout=10)
    assert received == [{"n": 7}]
    assert unacked_bodies(broker) == {}


def test_a_lost_connection_is_collected_without_a_word_to_redis(broker, drill_queue):
    """Celery collects a lost connection before it reconnects (kombu's Connection.collect).
    Closing its channels as on a clean shutdown would talk to Redis over the connection just
    lost (delete the liveness, restore the fetched messages, drop fanout bindings), each
    command a new connection, through the Sentinels a connect timeout to the vanished primary
    (drill HA-2). Collected, the channel opens no connection and sends nothing: its liveness
    stays until it lapses, and then the living consumers restore what it fetched."""
    url = broker.url("celery")
    publish(url, OURS, {"n": 7})
    admin = broker.client()
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    received: list[Any] = []
    connection = Connection(url, transport=OURS, transport_options=LIVENESS)

    def keep(body: Any, _message: Any) -> None:
        received.append(body)  # and no acknowledgement

    with Consumer(connection, [queue], accept=["json"], callbacks=[keep]):
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout, TimeoutError):
                connection.drain_events(timeout=1)
        assert received == [{"n": 7}]  # fetched, never acknowledged
        channel = connection.default_channel
        liveness, tag = channel.liveness_key, channel.consumer_id
        connections_before = admin.info("stats")["total_connections_received"]
        connection.collect()
    assert admin.info("stats")["total_connections_received"] == connections_before
    assert admin.exists(liveness), "the collected channel deleted its liveness"
    assert len(unacked_bodies(broker)) == 1, f"{tag} restored its message"
    survivor: list[Any] = []
    with (
        Connection(url, transport=OURS, transport_options=LIVENESS) as other,
        Consumer(other, [queue], accept=["json"], callbacks=[on_message(survivor)]),
    ):
        deadline = time.monotonic() + 30  # the collected consumer's liveness lapses in 1 s
        while not survivor and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout, TimeoutError):
                other.drain_events(timeout=1)
    assert survivor == [{"n": 7}]


def test_a_task_delivered_before_the_loss_can_be_acknowledged_after_the_collect(
    broker, drill_queue
):
    """Celery acknowledges a task that finishes after its connection was collected (a worker
    that lost the primary mid-task): the acknowledgement reaches Redis through a new
    connection, or fails as a connection error Celery handles, never as an error that stops
    the worker (drill HA-2 once ended a worker with an AttributeError here)."""
    url = broker.url("celery")
    publish(url, OURS, {"n": 8})
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    delivered: list[Any] = []
    connection = Connection(url, transport=OURS, transport_options=LIVENESS)
    with Consumer(
        connection, [queue], accept=["json"], callbacks=[lambda _b, m: delivered.append(m)]
    ):
        deadline = time.monotonic() + 30
        while not delivered and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout, TimeoutError):
                connection.drain_events(timeout=1)
        assert len(delivered) == 1 and len(unacked_bodies(broker)) == 1
        connection.collect()
        delivered[0].ack()
    assert unacked_bodies(broker) == {}
