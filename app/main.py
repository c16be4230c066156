"""Entry point of the Celery processes: `matchbot worker|beat|flower|inspect …`.

Builds the process's one Celery app from the environment's settings, sets up logging and
Sentry, then hands the arguments to Celery's own command line (`matchbot worker -Q default`
is `celery worker -Q default` with this app). The API's entry point is
app.api.main:create_app (`uvicorn --factory app.api.main:create_app`).
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from celery.signals import setup_logging, worker_init, worker_process_init, worker_ready

from app.core import warm_pools
from app.core.celery import create_celery_app
from app.core.config import get_settings
from app.core.observability import configure_logging, init_sentry


def _keep_our_logging(**_: Any) -> None:
    """Connected to `setup_logging`: a receiver stops Celery from configuring logging."""


def _keep_results_through_redis_outages(sender: Any = None, **_: Any) -> None:
    """In workers only: a result that cannot be written because Redis is away (restart,
    reboot, failover) is retried with backoff instead of lost, which would leave the task
    STARTED for ever after it ran. The API keeps failing fast so it can answer 503. Set before
    the pool starts, so prefork children and threads share it (main: one backend for every
    thread)."""
    sender.app.backend.always_retry = True


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    configure_logging(settings)
    init_sentry(settings)
    celery_app = create_celery_app(settings)
    celery_app.set_current()
    celery_app.set_default()
    # One result backend (and connection pool) for every thread of the process, not one per
    # thread: a threads pool otherwise builds a backend per pool thread on its first result
    # (a TLS handshake and a Sentinel lookup in the middle of a burst), which neither the
    # retry through Redis outages below nor the warm-up at start reached. Workers, beat and
    # Flower never wait on results from several threads; the API keeps Celery's default.
    celery_app.conf.result_backend_thread_safe = True
    setup_logging.connect(_keep_our_logging, weak=False)
    worker_init.connect(_keep_results_through_redis_outages, weak=False)
    worker_ready.connect(warm_pools.warm_worker, weak=False)
    worker_process_init.connect(partial(warm_pools.warm_child, celery_app), weak=False)
    status = celery_app.start(sys.argv[1:] if argv is None else argv)
    return int(status or 0)


if __name__ == "__main__":
    raise SystemExit(main())
