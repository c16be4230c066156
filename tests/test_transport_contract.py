"""The kombu and redis-py internals app.core.broker_transport relies on, with the shapes it
was written against. An upgrade that removes or changes one fails here, before any drill.

When this fails after an upgrade: read the changed code in kombu/redis-py, adapt the
transport, update the expected shape below, run tests/test_broker_transport.py and the
drills, then add the version to broker_transport.SUPPORTED.
"""

from __future__ import annotations

import inspect
from typing import Any

import kombu
import pytest
import redis
import redis.connection
import redis.sentinel
from celery.backends import redis as celery_redis
from conftest import RedisServer
from kombu import Connection
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from app.core import broker_transport

# Methods overridden or called, with their parameters.
METHODS: dict[str, tuple[Any, str]] = {
    "Channel._brpop_start (replaced)": (kombu_redis.Channel._brpop_start, "(self, timeout=None)"),
    "Channel._brpop_read (replaced)": (kombu_redis.Channel._brpop_read, "(self, **options)"),
    "Channel._put (extended, _publish_batch)": (
        kombu_redis.Channel._put,
        "(self, queue, message, **kwargs)",
    ),
    "Channel._do_restore_message (extended)": (
        kombu_redis.Channel._do_restore_message,
        "(self, payload, exchange, routing_key, pipe, leftmost=False)",
    ),
    "Channel.basic_consume (extended)": (
        kombu_redis.Channel.basic_consume,
        "(self, queue, *args, **kwargs)",
    ),
    "Channel.basic_cancel (extended)": (kombu_redis.Channel.basic_cancel, "(self, consumer_tag)"),
    "Channel._q_for_pri": (kombu_redis.Channel._q_for_pri, "(self, queue, pri)"),
    "Channel._lookup": (kombu_redis.Channel._lookup, "(self, exchange, routing_key, default=None)"),
    "Channel.conn_or_acquire": (kombu_redis.Channel.conn_or_acquire, "(self, client=None)"),
    "Channel._flush_brpop_reauth": (kombu_redis.Channel._flush_brpop_reauth, "(self)"),
    "QoS.append (replaced)": (kombu_redis.QoS.append, "(self, message, delivery_tag)"),
    "QoS._remove_from_indices (extended: owner entry)": (
        kombu_redis.QoS._remove_from_indices,
        "(self, delivery_tag, pipe=None)",
    ),
    "QoS.restore_by_tag (dead consumers' messages)": (
        kombu_redis.QoS.restore_by_tag,
        "(self, tag, client=None, leftmost=False)",
    ),
    "Channel.close (extended: liveness key)": (kombu_redis.Channel.close, "(self)"),
    "QoS.restore_unacked (extended: not on a released connection)": (
        kombu_redis.QoS.restore_unacked,
        "(self, client=None)",
    ),
    "SentinelChannel._sentinel_managed_pool (extended: Sentinels without retries)": (
        kombu_redis.SentinelChannel._sentinel_managed_pool,
        "(self, asynchronous=False)",
    ),
    "Channel._subscribe (extended: no silent pub/sub reconnect)": (
        kombu_redis.Channel._subscribe,
        "(self)",
    ),
    "PubSub._reconnect (why: reconnects, then a blocking read)": (
        redis.client.PubSub._reconnect,
        "(self, conn, error: Optional[Exception] = None, failure_count: Optional[int] = None, "
        "start_time: Optional[float] = None, command_name: Optional[str] = None) -> None",
    ),
    "Transport.register_with_event_loop (extended: liveness timer)": (
        kombu_redis.Transport.register_with_event_loop,
        "(self, connection, loop)",
    ),
    "virtual.QoS.append": (virtual.QoS.append, "(self, message, delivery_tag)"),
    "virtual.Transport.establish_connection (extended: waits out a failover)": (
        virtual.Transport.establish_connection,
        "(self)",
    ),
    "MultiChannelPoller._register": (
        kombu_redis.MultiChannelPoller._register,
        "(self, channel, client, type)",
    ),
    "PublishBatch.add": (kombu_redis.PublishBatch.add, "(self, name, *args)"),
    "kombu Connection.collect (calls Transport._collect when there is one)": (
        kombu.Connection.collect,
        "(self, socket_timeout=None)",
    ),
    "Channel._disconnect_pools (extended: a collected channel keeps a fresh pool)": (
        kombu_redis.Channel._disconnect_pools,
        "(self)",
    ),
    "Channel._get_pool": (kombu_redis.Channel._get_pool, "(self, asynchronous=False)"),
    "Channel._close_clients (a collected channel's pub/sub connection)": (
        kombu_redis.Channel._close_clients,
        "(self)",
    ),
    "virtual.QoS.restore_unacked_once (skipped when the channel says do_restore False)": (
        virtual.QoS.restore_unacked_once,
        "(self, stderr=None)",
    ),
    "redis Sentinel.discover_master (replaced: OrderedSentinel)": (
        redis.sentinel.Sentinel.discover_master,
        "(self, service_name)",
    ),
    "redis Sentinel.check_master_state": (
        redis.sentinel.Sentinel.check_master_state,
        "(self, state, service_name)",
    ),
    "celery SentinelBackend._get_sentinel_instance (extended: no retries)": (
        celery_redis.SentinelBackend._get_sentinel_instance,
        "(self, **params)",
    ),
    "redis.Redis.parse_response": (
        redis.Redis.parse_response,
        "(self, connection, command_name, **options)",
    ),
    "redis.Connection.send_command (check_health=False)": (
        redis.connection.Connection.send_command,
        "(self, *args, **kwargs)",
    ),
    "redis.Connection.check_health (called before registering)": (
        redis.connection.Connection.check_health,
        "(self)",
    ),
}

# Attributes read on a live channel (some only exist once it is created), its connection, its
# poller and its Redis connection.
CHANNEL_ATTRIBUTES = (
    "priority_steps",
    "sep",
    "unacked_key",
    "unacked_index_key",
    "_expires",
    "_queue_cycle",
    "active_queues",
    "brpop_timeout",
    "global_keyprefix",
    "_in_poll",
    "_brpop_sent_at",
    "_tag_to_queue",
    "client",
    "connection",
    "qos",
    "closed",
    "unacked_key",
    "do_restore",
)


@pytest.mark.parametrize("name", METHODS)
def test_each_method_keeps_the_shape_the_transport_was_written_for(name: str) -> None:
    method, expected = METHODS[name]
    assert str(inspect.signature(method)) == expected, name


def test_each_attribute_exists_on_a_live_channel(broker: RedisServer) -> None:
    with Connection(broker.url("celery"), transport=broker_transport.Transport) as connection:
        channel = connection.default_channel
        missing = [name for name in CHANNEL_ATTRIBUTES if not hasattr(channel, name)]
        assert missing == []
        assert callable(channel.connection._deliver)
        assert isinstance(channel.connection.cycle._chan_to_sock, dict)
        pooled = channel.client.connection_pool.get_connection()
        try:
            pooled.connect()
            assert pooled._sock is not None  # the socket the poller must watch
        finally:
            channel.client.connection_pool.release(pooled)
        assert channel.sep == "\x06\x16"
        assert isinstance(channel.connection.cycle._channels, set)
        assert "visibility_timeout" in kombu_redis.Channel.from_transport_options
        assert channel.priority_steps == [0, 3, 6, 9]


def test_unacked_entries_keep_kombus_format(broker: RedisServer) -> None:
    """The pop script writes `unacked` entries kombu's restore reads: [payload, exchange,
    routing_key], indexed by delivery tag."""
    assert "'[' .. item .. ', '" in broker_transport.POP_SCRIPT
    assert kombu_redis.Channel.unacked_key == "unacked"
    assert kombu_redis.Channel.unacked_index_key == "unacked_index"


def test_other_versions_are_refused_with_both_versions_named() -> None:
    with pytest.raises(broker_transport.UnsupportedVersionError) as refused:
        broker_transport.check_versions({"kombu": "5.8.0", "redis": "8.1.0"})
    message = str(refused.value)
    assert "kombu 5.7.0" in message and "kombu 5.8.0" in message
    broker_transport.check_versions()  # the installed ones pass
