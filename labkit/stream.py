"""A steady stream of tasks published from the controller while a drill breaks something: which
publishes the broker acknowledged, and whether each of those tasks completed."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import redis

from labkit.platform import CANARY, TALLY, Platform
from labkit.waiting import wait_until


@dataclass
class Stream:
    """Tally tasks at `rate` per second, one publish at a time, until stopped. The publishing
    thread has a Celery client of its own: a client's result consumer (one pub/sub connection,
    which each published task subscribes on) is not thread-safe, and over TLS the drill's
    thread and this one using the same SSL socket at once wedged both (HA-3, 120 s)."""

    platform: Platform
    rate: float = 40.0
    batch: str = field(default_factory=lambda: f"stream-{uuid.uuid4().hex[:8]}")
    acknowledged: dict[int, str] = field(default_factory=dict)  # index → task id
    refused: int = 0
    published_at: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Stream:
        publisher = Platform(self.platform.settings)
        self._thread = threading.Thread(
            target=self._run, args=(publisher,), name=self.batch, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def _run(self, publisher: Platform) -> None:
        celery = publisher.celery
        index, started = 0, time.monotonic()
        while not self._stop.is_set():
            pause = started + index / self.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            kwargs = {"batch": self.batch, "index": index, "hold_seconds": 0.0}
            try:
                sent = celery.send_task(TALLY, kwargs=kwargs)
            except Exception:  # the broker refused or was away: the publisher knows
                self.refused += 1
            else:
                self.acknowledged[index] = sent.id
                self.published_at[index] = time.time()
            index += 1

    def completed(self) -> set[int]:
        """The acknowledged tasks that ran: counted in the cache, or, for those it does not
        count, with SUCCESS in the result backend (a failover of the cache may drop its last
        writes: by design, it holds nothing that matters). {} while neither can be read."""
        try:
            counts = self.platform.tally_counts(self.batch)
            ran = {index for index in self.acknowledged if counts.get(index)}
            uncounted = {self.acknowledged[i]: i for i in self.acknowledged if i not in ran}
            if uncounted:
                succeeded = self.platform.succeeded(list(uncounted))
                ran |= {uncounted[task_id] for task_id in succeeded}
        except (redis.RedisError, OSError):
            return set()
        return ran

    def wait_for_all(self, timeout: float) -> set[int]:
        """Polls until every acknowledged task ran (or the timeout); those that ran."""
        done: set[int] = set()

        def all_ran() -> bool:
            done.clear()
            done.update(self.completed())
            return len(done) == len(self.acknowledged)

        wait_until(all_ran, timeout=timeout, interval=2)
        return done

    def duplicates(self) -> int:
        return sum(1 for runs in self.platform.tally_counts(self.batch).values() if runs > 1)


def round_trip(platform: Platform) -> bool:
    """A canary task completes (False while the clients are still finding the new primary)."""
    try:
        return bool(platform.run_task(CANARY, timeout=3)["state"] == "SUCCESS")
    except Exception:
        return False
