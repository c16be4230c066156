"""What every task shares: the error kinds and the retry policy.

- TransientError (and Redis/OS connection errors) are retried with exponential backoff and full
  jitter, up to TASK_MAX_RETRIES.
- InvalidInput fails at once with its message and is never retried.
- A retry that cannot be published (the broker is away) puts the task back on its queue instead
  of failing it, as Celery would: it runs again once the broker answers.
Tasks are idempotent: acknowledgement is late, so a task may run again after a crash.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.exceptions
from celery import Task
from celery.exceptions import Reject
from kombu.exceptions import OperationalError

from app.core.config import get_settings


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

_settings = get_settings()


class MatchbotTask(Task):  # type: ignore[misc]
    """Base class of every MatchBot task."""

    abstract = True
    autoretry_for = TRANSIENT_ERRORS
    dont_autoretry_for = (InvalidInput,)
    max_retries = _settings.task_max_retries
    retry_backoff = _settings.task_retry_backoff_seconds
    retry_backoff_max = _settings.task_retry_backoff_max_seconds
    retry_jitter = True

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().retry(*args, **kwargs)
        except Reject as rejected:
            # Celery rejects for good (FAILURE) when the retry cannot be published.
            if rejected.requeue or not isinstance(rejected.reason, BROKER_UNREACHABLE):
                raise
            raise Reject(rejected.reason, requeue=True) from rejected


def cache_client() -> redis.Redis:
    """A client of the cache instance, with short timeouts."""
    settings = get_settings()
    return redis.Redis.from_url(
        settings.cache_url,
        socket_connect_timeout=settings.redis_health_timeout_seconds,
        socket_timeout=settings.redis_health_timeout_seconds,
        decode_responses=True,
    )


def require(condition: bool, message: str) -> None:
    """Reject bad input with a clear message."""
    if not condition:
        raise InvalidInput(message)


def require_type(value: Any, expected: type | tuple[type, ...], name: str) -> None:
    # bool is an int in Python; nobody means True when they send a number.
    if isinstance(value, bool) and bool not in (
        expected if isinstance(expected, tuple) else (expected,)
    ):
        raise InvalidInput(f"{name} must be {_type_names(expected)}, got a boolean")
    if not isinstance(value, expected):
        raise InvalidInput(f"{name} must be {_type_names(expected)}, got {type(value).__name__}")


def _type_names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)
