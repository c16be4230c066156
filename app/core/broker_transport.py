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

Everything else (acknowledgement, redelivery, the `unacked` format, priorities) is kombu's own.

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
- `_poll_current_socket`: kombu's poller re-registers a channel's socket only when none is
  registered, so after a reconnect made by another command it keeps watching the old socket
  (replies never read). No upstream issue covers it; a fix belongs in kombu's
  `MultiChannelPoller._client_registered`, which should compare sockets.
It relies on kombu and redis-py internals, listed with their expected shapes in
tests/test_transport_contract.py; `SUPPORTED` names the versions that test passed on. To
upgrade kombu or redis-py: run that test and tests/test_broker_transport.py against the new
version, then add it to `SUPPORTED`.
"""

from __future__ import annotations

from queue import Empty
from time import monotonic, time
from typing import Any

import kombu
import redis as redis_py
from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, redis, virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

# The versions whose internals this module was written against and tested with.
SUPPORTED = {"kombu": ("5.7.0",), "redis": ("8.1.0",)}
SCHEMES = ("redis", "rediss")

WAKE_SUFFIX = "wake"
WAKE_MARK = "1"
WAKE_TTL_MS = 24 * 60 * 60 * 1000

# KEYS: the message lists (highest priority first), one wake list per queue, then the unacked
# index and hash. ARGV: number of message lists, the time, and per message list "1" when its
# consumer acknowledges (the task must be recorded) or "0" (no_ack, e.g. control replies).
POP_SCRIPT = """
local lists = tonumber(ARGV[1])
local index, unacked = KEYS[#KEYS - 1], KEYS[#KEYS]
local function record(item)
  local properties = cjson.decode(item)['properties']
  local info = properties['delivery_info']
  redis.call('ZADD', index, ARGV[2], properties['delivery_tag'])
  redis.call('HSET', unacked, properties['delivery_tag'],
    '[' .. item .. ', ' .. cjson.encode(info['exchange']) .. ', '
        .. cjson.encode(info['routing_key']) .. ']')
end
for i = 1, lists do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    local recorded = 0
    if string.sub(ARGV[3], i, i) == '1' and pcall(record, item) then
      recorded = 1
    end
    return {KEYS[i], item, recorded}
  end
end
for i = lists + 1, #KEYS - 2 do
  redis.call('DEL', KEYS[i])
end
return false
"""


class _PipelineBatch:
    """Lets kombu's own `_put` write its commands into our pipeline (next to the wake token)."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def add(self, name: str, *args: Any) -> None:
        getattr(self.pipeline, name)(*args)


class QoS(redis.QoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag == self.channel.recorded_tag:
            # The pop script has recorded it in `unacked` already: only track it locally.
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)


class Channel(redis.Channel):
    QoS = QoS

    #: The last pop found every queue empty: block on the wake lists next.
    idle = False
    #: Delivery tag of the message being delivered that the pop script recorded in `unacked`.
    recorded_tag: str | None = None
    #: Command whose reply is pending on the consuming connection.
    _pending_command = "EVAL"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Queues consumed without acknowledgement (control replies): nothing to record.
        self.no_ack_queues: set[str] = set()
        super().__init__(*args, **kwargs)
        if self.global_keyprefix:
            raise ChannelError("app.core.broker_transport does not support global_keyprefix")

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
        keys = [*lists, *wakes, self.unacked_index_key, self.unacked_key]
        return ["EVAL", POP_SCRIPT, len(keys), *keys, len(lists), time(), flags]

    def _brpop_start(self, timeout: float | None = None) -> None:
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        self._poll_current_socket()
        command: list[Any]
        if self.idle:
            command = ["BRPOP", *(self.wake_key(queue) for queue in queues), timeout or 0]
        else:
            command = self._pop_command(queues)
        self._pending_command = str(command[0])
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()  # type: ignore[assignment]
        self.client.connection.send_command(*command)

    def _poll_current_socket(self) -> None:
        """Make the poller watch the socket the command goes out on. Other commands on this
        client (declaring a queue, say) reconnect it after an outage; kombu then still watches
        the old socket, so the reply is never read and the consumer hangs (control replies
        after a Redis restart: `celery inspect` and the health check's ping got nothing)."""
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
            if self._pending_command == "BRPOP":
                # Woken by a token, or the wait timed out: look for work either way.
                self.idle = False
                raise Empty()
            if not reply:
                self.idle = True
                raise Empty()
            key, item, recorded = reply
            payload = loads(bytes_to_str(item))
            queue = bytes_to_str(key).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(queue)
            if recorded:
                self.recorded_tag = payload["properties"]["delivery_tag"]
            self.connection._deliver(payload, queue)
            return True
        finally:
            self.recorded_tag = None
            self._in_poll = None  # type: ignore[assignment]
            self._flush_brpop_reauth()

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
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


class Transport(redis.Transport):
    Channel = Channel


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


def install() -> None:
    """Make `redis://` and `rediss://` URLs select this transport in this process (the one
    registration point; idempotent). Raises UnsupportedVersionError first if needed."""
    check_versions()
    for scheme in SCHEMES:
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"


__all__ = ["POP_SCRIPT", "Channel", "QoS", "Transport", "UnsupportedVersionError", "install"]
