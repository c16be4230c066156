"""Group commit: what many threads ask for at once is written in one round trip.

A thread pool's tasks acknowledge their messages from their own threads, each until now with
its own `MULTI`/`EXEC` to Redis. Here a thread that finds no write in flight writes its own item
and every item that joins while it does, in one batch; a thread that finds a write in flight
adds its item and waits for the next batch, led by the first thread that waited. Each caller
returns only once the batch holding its item is written, or raises that batch's error: nothing
is acknowledged later than before, so a worker killed at any moment loses nothing it has not
written (at least once, as kombu's own acknowledgement). A lone caller (the prefork parent's
event loop) writes its item at once, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class _Waiter(Generic[Item]):
    __slots__ = ("error", "item", "leads", "woken")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.woken = threading.Event()
        #: Woken to write the next batch rather than because its item is written.
        self.leads = False
        self.error: BaseException | None = None


class GroupCommit(Generic[Item]):
    """Calls `write` with batches of the items passed to `commit` from any number of threads."""

    def __init__(self, write: Callable[[list[Item]], None]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._queued: list[_Waiter[Item]] = []
        self._writing = False

    def commit(self, item: Item) -> None:
        """Return once `item` is written (in some batch), or raise that batch's error."""
        waiter = _Waiter(item)
        with self._lock:
            self._queued.append(waiter)
            leads = not self._writing
            self._writing = True
        if not leads:
            waiter.woken.wait()
        if leads or waiter.leads:
            self._write_queued()
        if waiter.error is not None:
            raise waiter.error

    def _write_queued(self) -> None:
        """Write every queued item as one batch, then hand the lead to the first that queued
        meanwhile (a leader writes one batch and returns to its own work)."""
        with self._lock:
            batch, self._queued = self._queued, []
        error: BaseException | None = None
        try:
            self._write([waiter.item for waiter in batch])
        except BaseException as exc:  # every caller of the batch gets it, as it would alone
            error = exc
        for waiter in batch:
            waiter.error = error
            waiter.woken.set()
        with self._lock:
            if self._queued:
                self._queued[0].leads = True
                self._queued[0].woken.set()
            else:
                self._writing = False
