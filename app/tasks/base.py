"""What every task shares: the error kinds, the retry policy and argument validation.

- Every message is validated against its task's argument model (app.tasks.arguments) before
  the task runs: bad input fails at once with a message naming each bad field.
- TransientError (and Redis/OS connection errors) are retried with exponential backoff and full
  jitter, up to TASK_MAX_RETRIES (the policy comes from the app's settings: task_annotations).
- InvalidInput fails at once with its message and is never retried.
- A retry that cannot be published (the broker is away) puts the task back on its queue instead
  of failing it, as Celery would: it runs again once the broker answers.
Tasks are idempotent: acknowledgement is late, so a task may run again after a crash.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import redis
import redis.exceptions
from celery import Task, shared_task
from celery.exceptions import Reject
from kombu.exceptions import OperationalError

from app.core import redis_endpoints
from app.core.config import Settings
from app.tasks.arguments import InvalidArguments, TaskArguments


class InvalidInput(ValueError):  # noqa: N818 - reads as "raise InvalidInput(...)"
    """The caller sent something the task cannot work on; retrying would not help."""


class TransientError(RuntimeError):
    """A passing failure (a dependency not answering); worth retrying later."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)

# What publishing raises when the broker does not answer.
BROKER_UNREACHABLE: tuple[type[BaseException], ...] = (
    OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


class MatchbotTask(Task):  # type: ignore[misc]
    """Base class of every MatchBot task."""

    abstract = True
    #: The task's argument model; set by the `task` decorator.
    arguments: type[TaskArguments] | None = None
    autoretry_for = TRANSIENT_ERRORS
    dont_autoretry_for = (InvalidInput,)
    retry_jitter = True

    @property
    def settings(self) -> Settings:
        """The settings of the app this task runs in."""
        settings: Settings = self.app.settings
        return settings

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.arguments is not None:
            if args:
                raise InvalidInput(f"{self.name} takes its arguments by name")
            try:
                kwargs = self.arguments.check(kwargs, self.settings)
            except InvalidArguments as error:
                raise InvalidInput(str(error)) from None
        return super().__call__(*args, **kwargs)

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().retry(*args, **kwargs)
        except Reject as rejected:
            # Celery rejects for good (FAILURE) when the retry cannot be published.
            if rejected.requeue or not isinstance(rejected.reason, BROKER_UNREACHABLE):
                raise
            raise Reject(rejected.reason, requeue=True) from rejected


def task(arguments: type[TaskArguments]) -> Callable[[Callable[..., Any]], Any]:
    """Declare a task of whatever app runs it: its name and arguments come from `arguments`.
    The function gets the task as its first argument (for `self.settings`, `self.request`)."""
    return shared_task(base=MatchbotTask, bind=True, name=arguments.TASK, arguments=arguments)  # type: ignore[no-any-return]


@functools.cache
def cache_client(settings: Settings) -> redis.Redis:
    """The process's client of the cache instance (its primary, with Sentinels), with short
    timeouts: made once per process and settings, its pool reused by every task. A client per
    task cost a Sentinel query and two connections each time, with TLS two handshakes: 70 ms
    against 2 ms on the lab, and the HA drills' workers fell behind a 40/s stream. redis-py's
    pool starts afresh in a forked child and, through the Sentinels, finds a new primary
    after a lost connection."""
    return redis_endpoints.client(
        settings.cache_url,
        master=settings.cache_sentinel_master,
        sentinel_kwargs=settings.sentinel_kwargs(),
        timeout=settings.redis_health_timeout_seconds,
        tls=settings.tls_options(),
    )


def require(condition: bool, message: str) -> None:
    """Reject bad input with a clear message."""
    if not condition:
        raise InvalidInput(message)
