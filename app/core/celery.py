"""The Celery application, built by a factory from the settings; nothing happens at import.

Processes get their app from their entry point (app.main: `matchbot worker|beat|flower`; the
API from app.api.main.create_app), one app per process, created once.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Queue

from app.core import broker_transport, redis_endpoints
from app.core.config import ResultDetail, Settings
from app.core.queues import ALL_QUEUES, TASK_MODULE_QUEUES, QueueName, task_routes

SOCKET_TIMEOUT = 10
# Idle connections are PINGed before use after this long, and kombu drops the worker's pub/sub
# and blocking-pop connections once their PINGs or replies are this overdue (twice for
# pub/sub): a primary cut off by a partition, whose sockets never error, is left within
# ~10 s instead of ~50 s with kombu's 25 (drill HA-4).
HEALTH_CHECK_SECONDS = 5


class MatchbotCelery(Celery):  # type: ignore[misc]
    """A Celery app that carries the settings it was built from (tasks read them here)."""

    settings: Settings


def sentinel_options(settings: Settings, url: str, master: str) -> dict[str, Any]:
    """Transport options for a sentinel:// URL: the primary's name and how to authenticate to
    the Sentinels. The broker and the result backend are configured separately (the result
    backend without `master_name` fails with "No master found for None", celery #6348)."""
    if not settings.uses_sentinel(url):
        return {}
    kwargs = redis_endpoints.sentinel_options(
        settings.sentinel_kwargs(), redis_endpoints.SENTINEL_TIMEOUT_SECONDS
    )  # the transport and the result backend add: no retries (redis_endpoints)
    return {"master_name": master, "sentinel_kwargs": kwargs}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings derived from ours; one place for every production choice."""
    # Every Redis socket has a read timeout: a primary whose host vanished (no RST) would
    # otherwise block a worker's event loop on a pooled connection until TCP gives up
    # (minutes), the pattern behind celery #6348 and #10096 (no failover on a silently lost
    # connection). Longer than any blocking read kombu does (brpop_timeout, 1 s).
    redis_options = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "socket_keepalive_options": redis_endpoints.KEEPALIVE_OPTIONS,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "retry_on_timeout": True,
    }
    master = settings.redis_sentinel_master
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.results_url,
        # JSON only: no pickle, so nothing a publisher sends can run code on a worker.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # Queues and routing.
        "task_queues": [Queue(name, routing_key=name) for name in ALL_QUEUES],
        "task_default_queue": QueueName.DEFAULT.value,
        "task_default_routing_key": QueueName.DEFAULT.value,
        "task_routes": task_routes(),
        "task_create_missing_queues": False,
        # Limits.
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "worker_max_memory_per_child": settings.worker_max_memory_per_child_kib,
        "worker_prefetch_multiplier": settings.worker_prefetch_multiplier,
        # Transient errors retry with exponential backoff and full jitter (app.tasks.base),
        # read when each task binds to this app rather than frozen when its module is imported.
        "task_annotations": {
            "*": {
                "max_retries": settings.task_max_retries,
                "retry_backoff": settings.task_retry_backoff_seconds,
                "retry_backoff_max": settings.task_retry_backoff_max_seconds,
            }
        },
        # Not losing tasks: acknowledge after the task ran; a task whose process died goes back
        # to the queue; Redis redelivers unacknowledged tasks after the visibility timeout.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_transport_options": {
            "visibility_timeout": settings.broker_visibility_timeout,
            # app.core.broker_transport: dead consumers' tasks back within seconds, and a
            # size limit on what the atomic fetch has to decode.
            "consumer_liveness": settings.broker_consumer_liveness_seconds,
            "max_message_bytes": settings.broker_max_message_bytes,
            **redis_options,
            **sentinel_options(settings, settings.broker_url, master),
        },
        # TLS (settings.redis_tls_ca_file): the broker and the result backend are configured
        # separately (celery #5371), the Sentinels in sentinel_kwargs (settings).
        "broker_use_ssl": settings.tls_options() or False,
        "redis_backend_use_ssl": settings.tls_options() or None,
        "result_backend_transport_options": {
            **redis_options,
            **sentinel_options(settings, settings.results_url, master),
        },
        # How long a worker keeps retrying a result write while Redis is away (app.main):
        # about 100 s (sleeps of up to 1 s, full jitter). The cap is short because the worker's
        # main process stores results too (tasks it could not acknowledge when the broker went)
        # and sleeps between attempts with its event loop stopped: with 10 s it reconnected up
        # to 10 s after the new primary was in place (drill HA-1, first task 14-18 s).
        "result_backend_max_retries": 200,
        "result_backend_max_sleep_between_retries_ms": 1_000,
        # On shutdown, give running tasks a grace period and requeue what was reserved.
        "worker_soft_shutdown_timeout": 30.0,
        "worker_enable_soft_shutdown_on_idle": True,
        # Connections: retry forever, at start-up too, so Redis restarts need no operator.
        "broker_connection_retry": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        # A demoted primary answers READONLY: retry on a channel error as on a lost
        # connection, so consumers move to the new primary (celery #7946).
        "broker_channel_error_retry": True,
        "redis_backend_health_check_interval": HEALTH_CHECK_SECONDS,
        "redis_socket_timeout": SOCKET_TIMEOUT,
        "redis_socket_connect_timeout": 5,
        "redis_retry_on_timeout": True,
        # Events for Flower. RESULT_DETAIL=full (the default): the STARTED state, and extended
        # results that record queue, worker, name and retries; `final` stores the outcome only.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": settings.result_detail is ResultDetail.FULL,
        "result_extended": settings.result_detail is ResultDetail.FULL,
        "result_expires": settings.result_expires_seconds,
        # Logging is ours (app.core.observability), configured once per process.
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        # Periodic cleanup; exactly one beat runs in a deployment.
        "beat_schedule": {
            "cleanup-expired": {
                "task": "app.tasks.cleanup.cleanup_expired",
                "schedule": float(settings.cleanup_interval_seconds),
                "options": {"queue": QueueName.CLEANUP.value},
            }
        },
        "beat_schedule_filename": str(settings.beat_schedule_file),
        "timezone": "UTC",
        "enable_utc": True,
    }


def create_celery_app(settings: Settings) -> MatchbotCelery:
    """The app for these settings. Its broker URLs use the atomic-fetch transport
    (app.core.broker_transport.install, which also refuses an untested kombu)."""
    broker_transport.install()
    celery_app = MatchbotCelery("matchbot", include=list(TASK_MODULE_QUEUES), set_as_current=False)
    celery_app.settings = settings
    celery_app.conf.update(celery_config(settings))
    return celery_app
