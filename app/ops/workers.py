"""Drain a worker node before its unit restarts, and wait for it to serve after.

A rolling upgrade (playbooks/workers.yml) restarts a batch of worker hosts at a time. Before a
unit restarts, `drain` asks its node to stop consuming (Celery remote control
`cancel_consumer`, queue by queue) and waits until it runs and holds nothing (`inspect active`
and `reserved` both empty): the tasks it had started or prefetched finish on the old release,
none is handed back through the visibility timeout. If the node is still busy at the deadline,
its consumers are added back and the drain fails: the node keeps serving and the rollout stops.
After the restart, `ready` waits until the node answers a ping and consumes its queues.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from celery.utils.nodenames import host_format

POLL_SECONDS = 0.5
# How long one remote-control call waits for the node's reply.
REPLY_SECONDS = 2.0


class Control(Protocol):
    """What a drain needs of Celery's remote control (celery.app.control.Control)."""

    def cancel_consumer(self, queue: str, **kwargs: Any) -> Any: ...
    def add_consumer(self, queue: str, **kwargs: Any) -> Any: ...
    def ping(self, **kwargs: Any) -> Any: ...
    def inspect(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Outcome:
    """What a drain or a readiness wait found: done or not, after how long, and what it saw."""

    done: bool
    seconds: float
    detail: dict[str, Any]


def node_name(pattern: str) -> str:
    """`group@%h` with this host's name, as celery expands it."""
    return str(host_format(pattern))


def _tasks_held(control: Control, node: str) -> int | None:
    """Tasks the node runs or holds prefetched; None when it did not answer."""
    inspect = control.inspect(destination=[node], timeout=REPLY_SECONDS)
    active, reserved = inspect.active(), inspect.reserved()
    if not active or not reserved or node not in active or node not in reserved:
        return None
    return len(active[node]) + len(reserved[node])


def _wait(check: Callable[[], bool], deadline: float) -> bool:
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def drain(control: Control, node: str, queues: Iterable[str], timeout: float) -> Outcome:
    """Stop `node` consuming `queues` and wait until it holds no task (up to `timeout` s).
    A node that does not answer is not running: nothing to drain."""
    started = time.monotonic()
    queues = list(queues)
    if not control.ping(destination=[node], timeout=REPLY_SECONDS):
        return Outcome(True, 0.0, {"node": node, "answered": False})
    for queue in queues:
        control.cancel_consumer(queue, destination=[node], reply=True, timeout=REPLY_SECONDS)
    held: list[int | None] = [None]

    def idle() -> bool:
        held[0] = _tasks_held(control, node)
        return held[0] == 0

    done = _wait(idle, started + timeout)
    if not done:  # keep serving: the operator finds the node as it was
        for queue in queues:
            control.add_consumer(queue, destination=[node], reply=True, timeout=REPLY_SECONDS)
    seconds = round(time.monotonic() - started, 1)
    return Outcome(done, seconds, {"node": node, "answered": True, "tasks_held": held[0]})


def _consumes(control: Control, node: str, queues: set[str]) -> bool:
    inspect = control.inspect(destination=[node], timeout=REPLY_SECONDS)
    replies = inspect.active_queues() or {}
    return {queue["name"] for queue in replies.get(node, [])} == queues


def ready(control: Control, node: str, queues: Iterable[str], timeout: float) -> Outcome:
    """Wait until `node` answers a ping and consumes exactly `queues` (up to `timeout` s)."""
    started = time.monotonic()
    wanted = set(queues)
    done = _wait(lambda: _consumes(control, node, wanted), started + timeout)
    seconds = round(time.monotonic() - started, 1)
    return Outcome(done, seconds, {"node": node, "queues": sorted(wanted)})
