"""The deployed platform seen from the controller, with the services' own settings.

The controller reads a host's environment file and builds the app's Celery client from it:
the same ACL users, queues and transport the services use, over the lab network. Drills
publish and read results from here, so no program is copied to or typed on a host.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from kombu.exceptions import OperationalError

from app.core.celery import MatchbotCelery, create_celery_app
from app.core.config import Settings, settings_from_env_file
from app.tasks.base import cache_client
from labkit import hosts
from labkit.waiting import wait_until

ENV_FILE = "/etc/matchbot/matchbot.env"
TALLY = "app.tasks.health.tally"
BROKER_ERRORS = (OperationalError, redis.RedisError, OSError)
CANARY = "app.tasks.health.canary"


def deployed_settings(container: str, ca_file: Path | None = None) -> Settings:
    """The settings of the services on `container`, as the controller may use them: no log
    file (the controller is not the host), and with TLS the controller's copy of the CA."""
    overrides: dict[str, Any] = {"log_dir": None}
    if ca_file is not None:
        overrides["redis_tls_ca_file"] = ca_file
    return settings_from_env_file(hosts.sh(container, f"cat {ENV_FILE}"), **overrides)


@dataclass
class Batch:
    """Tally tasks published together; each counts its runs in the cache (lost or twice)."""

    name: str
    sent: int
    seconds: float
    finished_at: float
    ids: list[str] = field(default_factory=list)


class Platform:
    """The app's client with the deployed settings: publish, wait, read results."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.celery: MatchbotCelery = create_celery_app(settings)

    @classmethod
    def of(cls, container: str, ca_file: Path | None = None) -> Platform:
        return cls(deployed_settings(container, ca_file))

    def cache(self) -> redis.Redis:
        """The app's own cache client (through the Sentinels when there are)."""
        return cache_client(self.settings)

    def run_task(
        self, name: str, kwargs: dict[str, Any] | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        """Send a task and wait for it: its state, result (or error), worker and queue."""
        result = self.celery.send_task(name, kwargs=kwargs or {})
        value = result.get(timeout=timeout, propagate=False)
        return {
            "id": result.id,
            "state": result.state,
            "worker": result.worker,
            "queue": result.queue,
            "result": value if result.state == "SUCCESS" else repr(value),
        }

    def active_queues(self, timeout: float = 5) -> dict[str, set[str]]:
        """Celery inspect over the broker with the restricted Celery user: node → queues.
        A fresh connection each time, as a new process would have; {} while the broker is
        away (callers poll)."""
        try:
            with self.celery.connection_for_write() as connection:
                inspect = self.celery.control.inspect(timeout=timeout, connection=connection)
                replies = inspect.active_queues() or {}
        except BROKER_ERRORS:
            return {}
        return {node: {q["name"] for q in queues} for node, queues in replies.items()}

    def pings(self, node: str, timeout: float = 0.5) -> bool:
        try:
            with self.celery.connection_for_write() as connection:
                control = self.celery.control
                return bool(
                    control.ping(destination=[node], timeout=timeout, connection=connection)
                )
        except BROKER_ERRORS:
            return False

    def publish(self, name: str, count: int, kwargs: dict[str, Any], **options: Any) -> list[str]:
        """`count` tasks over one producer connection; their ids."""
        with self.celery.producer_or_acquire() as producer:
            return [
                self.celery.send_task(name, kwargs=kwargs, producer=producer, **options).id
                for _ in range(count)
            ]

    def publish_tally(
        self, batch: str, count: int, hold_seconds: float = 0.0, keep_results: bool = False
    ) -> Batch:
        """`count` tally tasks (queue `default`) over one connection. With `keep_results`,
        results are stored and the ids kept for `states`."""
        started, ids = time.monotonic(), []
        with self.celery.producer_or_acquire() as producer:
            for index in range(count):
                kwargs = {"batch": batch, "index": index, "hold_seconds": hold_seconds}
                sent = self.celery.send_task(
                    TALLY, producer=producer, kwargs=kwargs, ignore_result=not keep_results
                )
                ids.append(sent.id)
        seconds = time.monotonic() - started
        return Batch(batch, count, seconds, time.time(), ids if keep_results else [])

    def states(self, batch: Batch) -> dict[str, list[int]]:
        """Task indices of a batch published with keep_results, by state."""
        found: dict[str, list[int]] = defaultdict(list)
        for index, task_id in enumerate(batch.ids):
            found[self.celery.AsyncResult(task_id).state].append(index)
        return dict(found)

    def wait_until_done(self, batch: Batch, timeout: float) -> set[int]:
        """Polls until every task of a batch (published with keep_results) succeeded, or the
        timeout; the indices that succeeded."""
        done: set[int] = set()

        def all_done() -> bool:
            done.clear()
            done.update(self.states(batch).get("SUCCESS", []))
            return len(done) == batch.sent

        wait_until(all_done, timeout=timeout, interval=2)
        return done

    def tally_counts(self, batch: str) -> dict[int, int]:
        """Executions per task index of a tally batch, read from the cache."""
        return {int(k): int(v) for k, v in self.cache().hgetall(f"cache:tally:{batch}").items()}

    def succeeded(self, task_ids: list[str]) -> set[str]:
        """The tasks whose SUCCESS the result backend holds (on the broker's primary)."""
        backend: Any = self.celery.backend
        values = backend.client.mget([backend.get_key_for_task(t) for t in task_ids])
        return {
            task_id
            for task_id, raw in zip(task_ids, values, strict=True)
            if raw and json.loads(raw)["status"] == "SUCCESS"
        }

    def wait_for_tally(self, batch: str, expected: int, timeout: float) -> dict[int, int]:
        """Polls until `expected` distinct tasks of the batch ran (or the timeout); the counts."""
        counts: dict[int, int] = {}

        def complete() -> bool:
            counts.clear()
            counts.update(self.tally_counts(batch))
            return len(counts) >= expected

        wait_until(complete, timeout=timeout, interval=2)
        return counts

    def completion_times(self, ids: list[str], timeout: float) -> list[float]:
        """When each task finished (its result's date_done), sorted; waits up to `timeout`
        for all of them."""
        backend = self.celery.backend
        keys = [backend.get_key_for_task(task_id) for task_id in ids]
        metas: list[bytes] = []

        def all_done() -> bool:
            metas[:] = [meta for meta in backend.client.mget(keys) if meta]
            return len(metas) == len(keys)

        wait_until(all_done, timeout=timeout, interval=0.5)
        done = (backend.decode(meta)["date_done"] for meta in metas)
        return sorted(datetime.fromisoformat(when).timestamp() for when in done)


def duplicates(counts: dict[int, int]) -> int:
    return sum(1 for runs in counts.values() if runs > 1)


def by_state(states: dict[str, list[int]]) -> Counter[str]:
    return Counter({state: len(indices) for state, indices in states.items()})
