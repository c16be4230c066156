"""Steady HTTP traffic to the backend while a drill changes the platform: every answer kept, so
a drill can tell a refused connection (status 0) or an error from a served request."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from labkit.scenario import Scenario

ARITHMETIC = {"operation": "sum", "operands": [1, 2, 3]}


@dataclass
class Traffic:
    """GET /health-check/celery back to back on one thread, POST /tasks/arithmetic at `rate`
    per second on another, both with the lab client's token, until stopped. Each request
    opens its own connection, as a load balancer's health check or a new client does."""

    scenario: Scenario
    rate: float = 5.0
    answers: list[tuple[str, int, str]] = field(default_factory=list)  # (request, status, body)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Traffic:
        for target in (self._health, self._submit):
            thread = threading.Thread(target=self._loop, args=(target,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _loop(self, call: Callable[[], tuple[str, int, str]]) -> None:
        while not self._stop.is_set():
            self.answers.append(call())

    def _health(self) -> tuple[str, int, str]:
        status, body = self.scenario.health("celery")
        return "GET /health-check/celery", status, body

    def _submit(self) -> tuple[str, int, str]:
        started = time.monotonic()
        url = self.scenario.backend_url("/tasks/arithmetic")
        status, body = self.scenario.http.post(url, ARITHMETIC, token=self.scenario.api_token)
        self._stop.wait(max(0.0, 1 / self.rate - (time.monotonic() - started)))
        return "POST /tasks/arithmetic", status, body

    def counts(self) -> Counter[str]:
        """`<request> <status>` → how many."""
        return Counter(f"{request} {status}" for request, status, _ in self.answers)

    def errors(self) -> list[tuple[str, int, str]]:
        """Every answer that is not a success: refused or dropped (0), 5xx, anything else."""
        return [answer for answer in self.answers if answer[1] not in (200, 202)]


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch in [start, end] without a task completing (`times` sorted)."""
    inside = [start, *(t for t in times if start <= t <= end), end]
    return max(later - earlier for earlier, later in itertools.pairwise(inside))
