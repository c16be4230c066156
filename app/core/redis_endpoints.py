"""Redis endpoints as the settings name them, and clients for them.

A URL is either one server (`redis://user:password@host:6379/0`, `rediss://…`, `unix://…`) or a
set of Sentinels watching a primary (`sentinel://user:password@h1:26379/0;sentinel://…@h2:…`,
the form kombu and Celery read): the credentials are those of the primary's ACL user; the
Sentinels' own credentials and the primary's name come from separate settings.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from time import monotonic
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

SENTINEL = "sentinel"
SCHEMES = ("redis", "rediss", "unix", SENTINEL)
# How long a client waits for one Sentinel before asking the next (they answer in
# milliseconds on a LAN).
SENTINEL_TIMEOUT_SECONDS = 2.0


# TCP keepalive on every Redis socket: a connection whose peer vanished without a reset (a
# host stopped, a partition) errors after ~11 s of silence instead of Linux's 2 h default, so
# clients that only wait on it (pub/sub: Celery's result consumer, kombu's fanout) reconnect.
KEEPALIVE_OPTIONS = {socket.TCP_KEEPIDLE: 5, socket.TCP_KEEPINTVL: 2, socket.TCP_KEEPCNT: 3}


def sentinel_options(credentials: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Connection options of a client of the Sentinels (plain data: Celery reports its
    configuration as JSON): their credentials and a short timeout."""
    return {**credentials, "socket_timeout": timeout, "socket_connect_timeout": timeout}


def no_retries() -> Retry:
    """redis-py's retry policy for connections whose errors must surface at once (the caller,
    or kombu, moves on): none. redis-py 6+ otherwise retries three times with backoff."""
    return Retry(NoBackoff(), 0)


#: When each Sentinel (host, port) last failed to answer this process; those that answered
#: since are not in it. OrderedSentinel asks the others first.
UNANSWERED: dict[tuple[str, int], float] = {}


class OrderedSentinel(Sentinel):
    """redis-py's client of a set of Sentinels, asking first those that answered lately.
    redis-py asks them in the order configured, moving the one that answered to the front of
    that one client's list; but kombu and Celery make a client per connection pool, and a
    worker opens several pools when it reconnects (consumer, events, control, results), each
    trying a Sentinel whose host is gone first if it is listed first: a connect timeout each,
    ~10 s in all (drill HA-2, the primary's host holding the first-listed Sentinel). Which
    Sentinels did not answer is remembered for the whole process (UNANSWERED)."""

    def discover_master(self, service_name: str) -> tuple[str, int]:
        self.sentinels.sort(key=lambda sentinel: UNANSWERED.get(_address(sentinel), 0.0))
        errors = []
        for sentinel in self.sentinels:
            address = _address(sentinel)
            try:
                masters = cast(dict[str, Any], sentinel.sentinel_masters())  # RESP2
            except (redis.ConnectionError, redis.TimeoutError) as error:
                UNANSWERED[address] = monotonic()
                errors.append(f"{address[0]}:{address[1]} {type(error).__name__}: {error}")
                continue
            UNANSWERED.pop(address, None)
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):
                return state["ip"], state["port"]
        raise MasterNotFoundError(f"No master found for {service_name!r}: {'; '.join(errors)}")


def _address(sentinel: redis.Redis) -> tuple[str, int]:
    kwargs = sentinel.connection_pool.connection_kwargs
    return kwargs["host"], kwargs["port"]


def managed(sentinels: Sentinel) -> Sentinel:
    """A client of the Sentinels as every client here uses them: asking first those that
    answered lately (OrderedSentinel; kombu and Celery build redis-py's own class, which this
    turns into that subclass: it adds behaviour, no state), with no retries on the
    connections to them, so an unanswered one is skipped for the next at once. redis-py 6+
    retries a failed connection three times with backoff, so a Sentinel whose host is gone
    cost ~40 s on every new connection to the primary, and a failover that took a Sentinel's
    host with it stalled workers for minutes (drill HA-2). Applies to connections not yet
    made (they are made on first use)."""
    if type(sentinels) is Sentinel:
        sentinels.__class__ = OrderedSentinel
    elif not isinstance(sentinels, OrderedSentinel):
        raise TypeError(f"not a client of redis-py's Sentinels: {type(sentinels)!r}")
    for client in sentinels.sentinels:
        client.connection_pool.connection_kwargs["retry"] = no_retries()
    return sentinels


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    hosts: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    db: int

    @property
    def sentinel(self) -> bool:
        return self.scheme == SENTINEL


def parse(url: str) -> Endpoint:
    """One endpoint from a URL, or from a `;`-separated list of sentinel:// URLs (the
    credentials and database of the first)."""
    parts = [urlsplit(part.strip()) for part in url.split(";") if part.strip()]
    if not parts:
        raise ValueError("an empty Redis URL")
    schemes = {part.scheme for part in parts}
    if len(schemes) != 1 or (len(parts) > 1 and schemes != {SENTINEL}):
        raise ValueError("only sentinel:// URLs may be listed together, separated by ';'")
    (scheme,) = schemes
    if scheme not in SCHEMES:
        raise ValueError(f"the scheme must be one of {', '.join(SCHEMES)}")
    first = parts[0]
    path = first.path.strip("/")
    default_port = 26379 if scheme == SENTINEL else 6379
    return Endpoint(
        scheme=scheme,
        hosts=tuple((p.hostname or "localhost", p.port or default_port) for p in parts),
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        db=int(path) if path.isdigit() else 0,
    )


def passwords(url: str) -> list[str]:
    """Every password a URL (or list of URLs) carries, for redaction."""
    found = (urlsplit(part.strip()).password for part in url.split(";"))
    return [unquote(password) for password in found if password]


def client(
    url: str,
    *,
    master: str,
    sentinel_kwargs: dict[str, Any],
    timeout: float,
    tls: dict[str, Any] | None = None,
    decode_responses: bool = True,
) -> redis.Redis:
    """A client of the server `url` names; for Sentinels, of the primary they name `master`
    (asked again after a failover). `tls`: the options that verify the server (Settings.
    tls_options); the Sentinels' own are in `sentinel_kwargs`."""
    endpoint = parse(url)
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "socket_keepalive": True,
        "socket_keepalive_options": KEEPALIVE_OPTIONS,
        "decode_responses": decode_responses,
        **(tls or {}),
    }
    if not endpoint.sentinel:
        return redis.Redis.from_url(url, **options)
    sentinels = managed(
        OrderedSentinel(
            list(endpoint.hosts),
            sentinel_kwargs=sentinel_options(sentinel_kwargs, timeout),
            **options,
            **({"ssl": True} if tls else {}),
        )
    )
    primary: redis.Redis = sentinels.master_for(
        master, username=endpoint.username, password=endpoint.password, db=endpoint.db
    )
    return primary


def sentinel_clients(
    url: str, *, sentinel_kwargs: dict[str, Any], timeout: float
) -> list[tuple[str, redis.Redis]]:
    """A client of each Sentinel a sentinel:// URL names, with its address."""
    return [
        (
            f"{host}:{port}",
            redis.Redis(
                host=host,
                port=port,
                decode_responses=True,
                retry=no_retries(),
                **sentinel_options(sentinel_kwargs, timeout),
            ),
        )
        for host, port in parse(url).hosts
    ]
