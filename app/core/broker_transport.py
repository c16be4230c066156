"""kombu's Redis transport with the fetch made atomic: no task is lost when a worker dies.

Stock kombu fetches a task with BRPOP and only then, in a second command, records it in the
`unacked` hash from which Redis redelivers it after the visibility timeout. A worker killed
between the two (SIGKILL, OOM killer, power loss) takes the task with it: it is in neither
the queue nor `unacked`. The drills found this window under load.

Here one Lua script pops the task and records it in `unacked` in a single atomic step, so a
task is always in the queue or in `unacked` until it is acknowledged. A script cannot block,
so a consumer that finds its queues empty blocks instead on a *wake list* per queue, to which
every publish (and every redelivery) adds a token; a token only says "look again", so a lost
or missing token costs at most one `brpop_timeout` (1 s) of latency, never a task. The script
clears the wake lists of queues it found empty, so tokens do not pile up.

**Batches.** One script call takes as many messages as the consumer has free prefetch slots
(up to MAX_FETCH), each recorded as it is taken: a backlog costs one round trip and one pass
of the event loop per batch instead of per task (stock kombu takes one message per BRPOP).
Prefetch limits stay exact; priorities come first, then one message per queue in turn.

**Fast redelivery.** The pop script also records which consumer holds each message
(`unacked_owner`) and refreshes the consumer's liveness key (`unacked_live.<consumer>`, with a
TTL of BROKER_CONSUMER_LIVENESS_SECONDS). Each consumer refreshes it three times per period,
from the worker's event loop (also while every slot runs a long task) and before each fetch,
and puts back the messages of consumers whose liveness lapsed (SIGKILL, crash, host or network
lost): a dead worker's tasks are queued again within about 1⅓ periods (20 s by default), not
after the visibility timeout, which stays the backstop. A clean close deletes the key and
kombu puts the fetched-but-unstarted messages back at once. Redelivery is kombu's own atomic
`restore_by_tag`, so two consumers restoring the same message cannot duplicate it.

**Limits.** The pop script decodes each message in Lua (~8 ms of Redis time per MiB): messages
over BROKER_MAX_MESSAGE_BYTES (1 MiB) are refused at publish with MessageTooLargeError.

**Reconnects.** redis-py's health check may reconnect an idle connection that was killed; it
runs before the socket is registered with kombu's poller and the fetch is sent without a second
check, so the reply is read from the socket it comes on. Replies are told apart by their shape.

Everything else (acknowledgement, the `unacked` format, priorities) is kombu's own.

**Selecting it.** `install()` is the one registration point: it refuses a kombu or redis-py
this module was not written for, then makes kombu resolve `redis://` and `rediss://` URLs to
`Transport`. app.core.celery.create_celery_app calls it, so every process that builds the app
(workers, beat, Flower, backend) uses it, and URLs, logs and Flower's broker view stay as they
were (Celery's `broker_transport` setting would name this class in every URL kombu prints, and
Flower's broker view only knows `redis://`). Importing this module changes nothing.

**What it works around, and when to delete it.**
- kombu #305 (2014) and #1836: the fetch is not atomic; open upstream, no release fixes it.
  Delete `POP_SCRIPT`, `_pop_command`, `_brpop_start`/`_brpop_read` and the wake lists once
  kombu pops and records in one step (or move the broker to RabbitMQ quorum queues, which
  hold acknowledgements in the broker and which Celery 5.7 supports).
- `_poll_current_socket` and the health check before it: kombu's poller re-registers a
  channel's socket only when none is registered, so after a reconnect made by another command
  or by redis-py's health check inside `send_command` it keeps watching the old socket
  (replies never read; stock kombu 5.7 loses the next message this way, see
  tests/test_broker_transport.py). No upstream issue covers it; a fix belongs in kombu's
  `MultiChannelPoller._client_registered` (compare sockets) and `_brpop_start` (health check
  before registering).
- The liveness and `unacked_owner`: kombu redelivers only after `visibility_timeout`, and its
  restore can stall for `unacked_mutex_expire` (300 s) when the process holding the mutex was
  killed. RabbitMQ redelivers when the consumer's connection drops; kombu's Redis transport
  has no equivalent.
It relies on kombu and redis-py internals, listed with their expected shapes in
tests/test_transport_contract.py; `SUPPORTED` names the versions that test passed on. To
upgrade kombu or redis-py: run that test and tests/test_broker_transport.py against the new
version, then add it to `SUPPORTED`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from queue import Empty
from time import monotonic, sleep, time
from typing import Any

import kombu
import redis as redis_py
from celery.app.backends import BACKEND_ALIASES
from celery.backends import redis as celery_redis
from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, redis, virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from app.core import redis_endpoints

# The versions whose internals this module was written against and tested with.
SUPPORTED = {"kombu": ("5.7.0",), "redis": ("8.1.0",)}
SCHEMES = ("redis", "rediss")

WAKE_SUFFIX = "wake"
WAKE_MARK = "1"
WAKE_TTL_MS = 24 * 60 * 60 * 1000
# Beside kombu's `unacked` hash: who holds each message, and each consumer's liveness (the
# Celery user's ACL pattern `unacked*` covers both).
OWNERS_SUFFIX = "_owner"
LIVENESS_SUFFIX = "_live."
DEFAULT_LIVENESS_SECONDS = 15.0
# The pop script decodes each message in Lua: ~8 ms of Redis time per MiB. Larger task
# arguments belong in files (see parse_upload), not in messages.
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
# Most messages one pop script call takes (never more than the consumer's free prefetch slots):
# one round trip and one pass of the event loop for many tasks.
MAX_FETCH = 64
# With Sentinels, a connection made while the primary is lost and not yet replaced is tried
# again every FAILOVER_POLL_SECONDS for up to `failover_wait` seconds (transport option): longer
# than a failover (the role's down-after 5 s, then ~2 s to elect and promote).
DEFAULT_FAILOVER_WAIT_SECONDS = 15.0
FAILOVER_POLL_SECONDS = 0.5

# KEYS: the message lists (highest priority first, each priority's queues in the consumer's
# round-robin order), one wake list per queue, then the unacked index and hash, the owners hash
# and this consumer's liveness key. ARGV: number of message lists, the time, per message list
# "1" when its consumer acknowledges (the task must be recorded) or "0" (no_ack, e.g. control
# replies), this consumer's id, its liveness in ms, how many messages to take at most (the
# consumer's free prefetch slots), the number of queues (lists per priority).
# Takes the highest priority first; within a priority, one message per queue in turn (the
# fairness kombu's round-robin gives one fetch at a time). Answers [list, message, recorded]
# per message taken, or nil when every queue was empty (their wake lists are then cleared).
POP_SCRIPT = """
local lists, wanted, per_level = tonumber(ARGV[1]), tonumber(ARGV[6]), tonumber(ARGV[7])
local index, unacked = KEYS[#KEYS - 3], KEYS[#KEYS - 2]
local owners, live = KEYS[#KEYS - 1], KEYS[#KEYS]
local function record(item)
  local properties = cjson.decode(item)['properties']
  local info, tag = properties['delivery_info'], properties['delivery_tag']
  redis.call('ZADD', index, ARGV[2], tag)
  redis.call('HSET', unacked, tag,
    '[' .. item .. ', ' .. cjson.encode(info['exchange']) .. ', '
        .. cjson.encode(info['routing_key']) .. ']')
  redis.call('HSET', owners, tag, ARGV[4])
end
local taken = {}
for first = 1, lists, per_level do
  local open, empty = per_level, {}
  while open > 0 and #taken < wanted * 3 do
    for i = first, first + per_level - 1 do
      if not empty[i] and #taken < wanted * 3 then
        local item = redis.call('RPOP', KEYS[i])
        if item then
          local recorded = 0
          if string.sub(ARGV[3], i, i) == '1' and pcall(record, item) then
            recorded = 1
          end
          taken[#taken + 1] = KEYS[i]
          taken[#taken + 1] = item
          taken[#taken + 1] = recorded
        else
          empty[i] = true
          open = open - 1
        end
      end
    end
  end
end
if #taken > 0 then
  redis.call('SET', live, '1', 'PX', ARGV[5])
  return taken
end
for i = lists + 1, #KEYS - 4 do
  redis.call('DEL', KEYS[i])
end
return false
"""

# The delivery tags held by consumers whose liveness key has expired (crashed, killed, cut off).
# KEYS: the owners hash. ARGV: the liveness key prefix.
DEAD_OWNERS_SCRIPT = """
local held = redis.call('HGETALL', KEYS[1])
local alive, dead = {}, {}
for i = 1, #held, 2 do
  local consumer = held[i + 1]
  if alive[consumer] == nil then
    alive[consumer] = redis.call('EXISTS', ARGV[1] .. consumer) == 1
  end
  if not alive[consumer] then
    dead[#dead + 1] = held[i]
  end
end
return dead
"""


class _PipelineBatch:
    """Lets kombu's own `_put` write its commands into our pipeline (next to the wake token)."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def add(self, name: str, *args: Any) -> None:
        getattr(self.pipeline, name)(*args)


class QoS(redis.QoS):
    def restore_unacked(self, client: Any = None) -> None:
        """kombu's restore at close, unless the connection is already released: on a lost
        broker (a failover) Celery closes the channel after its connection, and kombu's
        restore would build a new pool from nothing and stop the worker ("Unrecoverable
        error: 'NoneType' object has no attribute 'hostname'", drill HA-1). The messages stay
        recorded with this consumer as owner; once its liveness lapses the living consumers
        restore them (the reconnected worker among them)."""
        if client is None and getattr(self.channel.connection, "client", None) is None:
            self._delivered.clear()
            return
        super().restore_unacked(client)

    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag == self.channel.recorded_tag:
            # The pop script has recorded it in `unacked` already: only track it locally.
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        """kombu's removal (ack, reject, restore), plus the owner entry, in the same step."""
        return (
            super()
            ._remove_from_indices(delivery_tag, pipe)
            .hdel(self.channel.owners_key, delivery_tag)
        )


class Channel(redis.Channel):
    QoS = QoS
    from_transport_options: Any = (
        *redis.Channel.from_transport_options,
        "consumer_liveness",
        "max_message_bytes",
    )

    #: Seconds a consumer's liveness lasts without a refresh; its messages are restored once
    #: it lapses (BROKER_CONSUMER_LIVENESS_SECONDS). Refreshed three times per period.
    consumer_liveness: float = DEFAULT_LIVENESS_SECONDS
    #: Largest message body accepted at publish (BROKER_MAX_MESSAGE_BYTES).
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    #: The last pop found every queue empty: block on the wake lists next.
    idle = False
    #: Delivery tag of the message being delivered that the pop script recorded in `unacked`.
    recorded_tag: str | None = None
    #: Command whose reply is pending on the consuming connection.
    _pending_command = "EVAL"
    #: The connection is lost: closing says nothing to Redis (Transport._collect).
    _lost = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Queues consumed without acknowledgement (control replies): nothing to record.
        self.no_ack_queues: set[str] = set()
        #: This consumer, as the owner of the messages it fetched.
        self.consumer_id = f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self._liveness_due = self._sweep_due = 0.0
        super().__init__(*args, **kwargs)
        if self.global_keyprefix:
            raise ChannelError("app.core.broker_transport does not support global_keyprefix")

    @property
    def owners_key(self) -> str:
        return f"{self.unacked_key}{OWNERS_SUFFIX}"

    @property
    def liveness_prefix(self) -> str:
        return f"{self.unacked_key}{LIVENESS_SUFFIX}"

    @property
    def liveness_key(self) -> str:
        return f"{self.liveness_prefix}{self.consumer_id}"

    @property
    def liveness_ms(self) -> int:
        return int(self.consumer_liveness * 1000)

    def keep_alive(self, now: float | None = None) -> None:
        """Refresh this consumer's liveness (at most three times per period)."""
        now = monotonic() if now is None else now
        if now < self._liveness_due:
            return
        self._liveness_due = now + self.consumer_liveness / 3
        with self.conn_or_acquire() as client:
            client.set(self.liveness_key, "1", px=self.liveness_ms)

    def restore_from_dead_consumers(self, now: float | None = None) -> int:
        """Put the messages of consumers whose liveness lapsed back in their queues (at most
        three times per liveness period); how many. A consumer working on a long task keeps
        its messages: its event loop refreshes its liveness while the task runs."""
        now = monotonic() if now is None else now
        if now < self._sweep_due:
            return 0
        self._sweep_due = now + self.consumer_liveness / 3
        with self.conn_or_acquire() as client:
            tags = client.eval(DEAD_OWNERS_SCRIPT, 1, self.owners_key, self.liveness_prefix)
            for tag in tags:
                self.qos.restore_by_tag(bytes_to_str(tag), client=client)
        return len(tags)

    def close(self) -> None:
        """This consumer's liveness goes, then kombu's close puts the messages it fetched but
        did not start back (restores are atomic: a sweeper racing it finds nothing to do)."""
        if not self.closed and not self._lost:
            with contextlib.suppress(*self.connection_errors), self.conn_or_acquire() as client:
                client.delete(self.liveness_key)
        super().close()

    def connection_lost(self) -> None:
        """Make closing this channel say nothing to Redis: no pending read drained, no
        liveness deleted, no fanout binding removed or unsubscribed, no messages restored.
        Each of those would open a new connection, and through the Sentinels that means asking
        them for the primary and connecting to it: while the old primary's host is gone, a
        connect timeout per command (drill HA-2: the worker reconnected ~30 s after the
        loss). What this consumer fetched goes back to its queues when its liveness lapses
        (restore_from_dead_consumers, run by every living consumer, this worker's next
        channel included). Celery may still acknowledge a task this channel delivered, after
        the transport is gone: _disconnect_pools leaves it a fresh pool for that."""
        self._lost = True
        self.do_restore = False
        self._in_poll = False
        self._close_clients()  # the pub/sub connection: nothing left to unsubscribe
        self.auto_delete_queues = set()  # kombu's close would delete their fanout bindings

    def _disconnect_pools(self) -> None:
        """kombu's, and for a channel whose connection was lost a fresh pool, not connected
        until used: a task it delivered that finishes later is acknowledged through it (on
        the new primary, through the Sentinels). kombu would build one from the transport's
        client, which is gone by then: the acknowledgement stopped the worker with an
        AttributeError instead of a connection error (drill HA-2)."""
        super()._disconnect_pools()
        if self._lost and self.connection.client is not None:
            self._pool = self._get_pool()

    def _subscribe(self) -> None:
        """Subscribe as kombu does, on a pub/sub connection redis-py may not reconnect by
        itself. redis-py 6+ retries a failed pub/sub read by reconnecting and reading again,
        blocking with no timeout on the new socket, which kombu's poller does not watch and
        where nothing is subscribed: when Redis drops the connection and answers again at once
        (a switchover's CLIENT KILL, a quick restart) the worker's event loop hangs for good,
        deaf to tasks and control. With no retries the error reaches kombu, which reconnects
        the consumer and subscribes again (tests/test_sentinel.py)."""
        super()._subscribe()
        connection = self.subclient.connection
        if connection is not None:
            connection.retry = redis_endpoints.no_retries()

    def wake_key(self, queue: str) -> str:
        return f"{queue}{self.sep}{WAKE_SUFFIX}"

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        no_ack = kwargs["no_ack"] if "no_ack" in kwargs else bool(args and args[0])
        (self.no_ack_queues.add if no_ack else self.no_ack_queues.discard)(queue)
        return super().basic_consume(queue, *args, **kwargs)

    def basic_cancel(self, consumer_tag: str) -> Any:
        self.no_ack_queues.discard(self._tag_to_queue.get(consumer_tag, ""))
        return super().basic_cancel(consumer_tag)

    def _pop_command(self, queues: list[str]) -> list[Any]:
        steps = [(queue, priority) for priority in self.priority_steps for queue in queues]
        lists = [self._q_for_pri(queue, priority) for queue, priority in steps]
        wakes = [self.wake_key(queue) for queue in queues]
        flags = "".join("0" if queue in self.no_ack_queues else "1" for queue, _ in steps)
        keys = [
            *lists,
            *wakes,
            self.unacked_index_key,
            self.unacked_key,
            self.owners_key,
            self.liveness_key,
        ]
        wanted = max(1, min(MAX_FETCH, self.qos.can_consume_max_estimate() or 1))
        arguments = [
            len(lists),
            time(),
            flags,
            self.consumer_id,
            self.liveness_ms,
            wanted,
            len(queues),
        ]
        return ["EVAL", POP_SCRIPT, len(keys), *keys, *arguments]

    def _brpop_start(self, timeout: float | None = None) -> None:
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        if queues and set(queues) - self.no_ack_queues:
            # Consumers that record what they fetch stay alive, and restore the dead's.
            self.keep_alive()
            self.restore_from_dead_consumers()
        connection = self.client.connection
        # Order matters. redis-py's health check (health_check_interval) may reconnect, on a
        # new socket, when the idle one was killed; inside send_command it would do so after
        # the poller was pointed at the old socket, and the reply would never be read (a
        # no-ack message lost, an acknowledged one stuck in `unacked`). So: health check
        # first, then watch the socket it left, then send without a second check.
        connection.check_health()
        self._poll_current_socket()
        command: list[Any]
        if self.idle:
            command = ["BRPOP", *(self.wake_key(queue) for queue in queues), timeout or 0]
        else:
            command = self._pop_command(queues)
        self._pending_command = str(command[0])
        self._in_poll = connection
        self._brpop_sent_at = monotonic()  # type: ignore[assignment]
        connection.send_command(*command, check_health=False)

    def _poll_current_socket(self) -> None:
        """Make the poller watch the socket the command goes out on. Other commands on this
        client (declaring a queue, say) or the health check reconnect it after an outage;
        kombu then still watches the old socket, so the reply is never read and the consumer
        hangs (control replies after a Redis restart: `celery inspect` and the health check's
        ping got nothing)."""
        cycle = self.connection.cycle
        ident = (self, self.client, "BRPOP")
        current = self.client.connection._sock
        if current is not None and cycle._chan_to_sock.get(ident) is not current:
            cycle._register(*ident)

    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                reply = self.client.parse_response(
                    self.client.connection, self._pending_command, **options
                )
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            # Told apart by shape, not by which command we think is pending: the pop script
            # answers [list, message, recorded] per message or nil, a wake BRPOP [wake list,
            # mark] or nil.
            if isinstance(reply, list) and reply and len(reply) % 3 == 0:
                return self._deliver_popped(reply)
            if reply is None and self._pending_command == "EVAL":
                self.idle = True  # every queue was empty: block on the wake lists next
            else:
                self.idle = False  # woken by a mark, or the wait timed out: look for work
            raise Empty()
        finally:
            self.recorded_tag = None
            self._in_poll = None  # type: ignore[assignment]
            self._flush_brpop_reauth()

    def _deliver_popped(self, reply: list[Any]) -> bool:
        """Hand each message the pop script took to kombu, in order. Should handing one over
        fail, those after it go back to their queues at once: they are recorded as held by
        this consumer, which lives on, so nothing else would put them back before the
        visibility timeout."""
        taken = [reply[index : index + 3] for index in range(0, len(reply), 3)]
        self.idle = False
        for position, (key, item, recorded) in enumerate(taken):
            payload = loads(bytes_to_str(item))
            queue = bytes_to_str(key).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(queue)
            self.recorded_tag = payload["properties"]["delivery_tag"] if recorded else None
            try:
                self.connection._deliver(payload, queue)
            except BaseException:
                self._restore_undelivered(taken[position + 1 :])
                raise
        return True

    def _restore_undelivered(self, taken: list[list[Any]]) -> None:
        for _key, item, recorded in taken:
            if recorded:
                tag = loads(bytes_to_str(item))["properties"]["delivery_tag"]
                with contextlib.suppress(*self.connection_errors):
                    self.qos.restore_by_tag(tag)

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        size = len(message.get("body", ""))
        if size > self.max_message_bytes:
            raise MessageTooLargeError(
                f"a message of {size} bytes for queue {queue!r} is over the broker's limit of "
                f"{self.max_message_bytes} bytes (BROKER_MAX_MESSAGE_BYTES): pass large data "
                "by reference (a file under DATA_DIR/uploads), not in the task's arguments"
            )
        batch = kwargs.pop("_publish_batch", None)
        if batch is not None:
            self._put_with_token(queue, message, batch, **kwargs)
            return
        with self.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
            self._put_with_token(queue, message, _PipelineBatch(pipe), **kwargs)
            pipe.execute()

    def _put_with_token(self, queue: str, message: Any, batch: Any, **kwargs: Any) -> None:
        super()._put(queue, message, _publish_batch=batch, **kwargs)
        batch.add("lpush", self.wake_key(queue), WAKE_MARK)
        # Marks are hints: let those of queues nobody reads any more (control replies of
        # processes gone) expire instead of piling up.
        batch.add("pexpire", self.wake_key(queue), self._expires.get(queue, WAKE_TTL_MS))

    def _do_restore_message(
        self, payload: Any, exchange: str, routing_key: str, pipe: Any, leftmost: bool = False
    ) -> None:
        super()._do_restore_message(payload, exchange, routing_key, pipe, leftmost)
        try:
            queues = self._lookup(exchange, routing_key)
        except Exception:  # kombu logged it in super(); the mark is only a hint
            return
        for queue in queues:
            pipe.lpush(self.wake_key(queue), WAKE_MARK)
            pipe.pexpire(self.wake_key(queue), self._expires.get(queue, WAKE_TTL_MS))


class MessageTooLargeError(ValueError):
    """A message over the broker's size limit, refused at publish."""


class SentinelChannel(Channel, redis.SentinelChannel):
    """The same channel on the primary a set of Sentinels names (`sentinel://` URLs): kombu's
    SentinelChannel finds the primary, ours fetches atomically from it."""

    from_transport_options: Any = tuple(
        dict.fromkeys(
            (*Channel.from_transport_options, *redis.SentinelChannel.from_transport_options)
        )
    )

    def _sentinel_managed_pool(self, asynchronous: bool = False) -> Any:
        """kombu's pool on the primary, asking the Sentinels without retries, and with no
        redis-py retries on the primary's connections either: an error reaches kombu at
        once, which reconnects through the Sentinels (SentinelTransport.establish_connection
        waits out a failover). redis-py's own 3 retries with backoff on a primary cut off by
        a partition held the worker's event loop (a heartbeat publish, a liveness refresh)
        for up to a minute before the loss reached Celery (drill HA-4)."""
        pool = super()._sentinel_managed_pool(asynchronous)
        manager: Any = self._async_sentinel_manager if asynchronous else self._sentinel_manager
        redis_endpoints.managed(manager)
        pool.connection_kwargs["retry"] = redis_endpoints.no_retries()
        return pool


class ResultBackend(celery_redis.RedisBackend):  # type: ignore[misc]
    """Celery's result backend with TCP keepalive on its sockets (Celery turns
    `socket_keepalive` on, but passes no options, so Linux waits 2 h): results arrive on a
    pub/sub connection that only waits, so one to a host that vanished or was cut off must
    error to be replaced (drill HA-4)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connparams["socket_keepalive"] = True
        self.connparams["socket_keepalive_options"] = redis_endpoints.KEEPALIVE_OPTIONS


class SentinelResultBackend(ResultBackend, celery_redis.SentinelBackend):  # type: ignore[misc]
    """The result backend on the primary the Sentinels name, asking them without retries
    (as the broker does)."""

    def _get_sentinel_instance(self, **params: Any) -> Any:
        return redis_endpoints.managed(super()._get_sentinel_instance(**params))


class Transport(redis.Transport):
    Channel = Channel

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """kombu's timers, plus one that keeps this worker's consumers alive and restores the
        messages of dead ones, also while every slot is busy with long tasks."""
        super().register_with_event_loop(connection, loop)
        cycle: Any = self.cycle
        previous = getattr(cycle, "_liveness_tref", None)
        if previous is not None:
            previous.cancel()
        interval = connection.client.transport_options.get(
            "consumer_liveness", DEFAULT_LIVENESS_SECONDS
        )
        cycle._liveness_tref = loop.call_repeatedly(interval / 3, self._keep_consumers_alive)

    def _collect(self, connection: Any) -> None:
        """kombu's Connection.collect, which Celery calls after a lost connection before it
        reconnects (and kombu's pools after a fork): drop the channels without a word to
        Redis (Channel.connection_lost). Without it kombu closes them as on a clean
        shutdown, over the connection that was just lost."""
        for channel in (*self._avail_channels, *self.channels):
            channel.connection_lost()
        self.close_connection(connection)

    def _keep_consumers_alive(self) -> None:
        cycle: Any = self.cycle
        for channel in list(cycle._channels):
            if set(channel.active_queues) - channel.no_ack_queues:
                try:
                    channel.keep_alive()
                    channel.restore_from_dead_consumers()
                except channel.connection_errors:
                    pass  # the broker is away: the next tick tries again


class UnsupportedVersionError(RuntimeError):
    """kombu or redis-py is a version this transport was not written for."""


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Refuse kombu or redis-py versions whose internals were not checked."""
    installed = installed or {"kombu": kombu.__version__, "redis": redis_py.__version__}
    for package, version in installed.items():
        if version not in SUPPORTED[package]:
            raise UnsupportedVersionError(
                f"app.core.broker_transport was written for {package} "
                f"{' or '.join(SUPPORTED[package])}, but this process has {package} {version}: "
                "run tests/test_transport_contract.py and tests/test_broker_transport.py "
                "against it, then add it to SUPPORTED"
            )


class SentinelTransport(Transport):
    default_port: Any = 26379
    Channel = SentinelChannel

    def establish_connection(self) -> Any:
        """kombu's, waiting out a failover in progress: while the Sentinels still name a
        primary that does not answer, try again every FAILOVER_POLL_SECONDS, for up to the
        `failover_wait` transport option, before reporting the connection lost. Celery's
        reconnect loop (kombu's ensure_connection, not configurable from Celery) backs off
        2, 4, 6 … s between attempts, so a promotion that falls between two of them was
        noticed up to 6 s late (drill HA-1: first task 15 s after the loss instead of 7 s)."""
        client: Any = self.client
        options = client.transport_options
        deadline = monotonic() + float(options.get("failover_wait", DEFAULT_FAILOVER_WAIT_SECONDS))
        while True:
            try:
                return super().establish_connection()
            except self.connection_errors:
                if monotonic() >= deadline:
                    raise
                sleep(FAILOVER_POLL_SECONDS)


def install() -> None:
    """Make `redis://`, `rediss://` and `sentinel://` URLs select these transports and result
    backends in this process (the one registration point; idempotent). Raises
    UnsupportedVersionError first if needed."""
    check_versions()
    for scheme in SCHEMES:
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
        BACKEND_ALIASES[scheme] = f"{__name__}:ResultBackend"
    TRANSPORT_ALIASES["sentinel"] = f"{__name__}:SentinelTransport"
    BACKEND_ALIASES["sentinel"] = f"{__name__}:SentinelResultBackend"


__all__ = [
    "POP_SCRIPT",
    "Channel",
    "MessageTooLargeError",
    "QoS",
    "ResultBackend",
    "SentinelChannel",
    "SentinelResultBackend",
    "SentinelTransport",
    "Transport",
    "UnsupportedVersionError",
    "install",
]
