"""task_logs.py: configure logging from the environment's settings as a worker does
(app.core.observability), then log through Celery's own loggers what a worker logs per task:
received, succeeded, retried, failed. The lines land on stderr for the test to read."""

from __future__ import annotations

import logging

from celery.app import trace
from celery.worker import strategy

from app.core.config import Settings
from app.core.observability import configure_logging


def main() -> None:
    configure_logging(Settings())
    context = {"id": "t-1", "name": "app.tasks.health.canary", "return_value": "ok"}
    context |= {"runtime": 0.001, "exc": "TransientError('x')", "description": "raised"}
    if strategy.logger.isEnabledFor(logging.INFO):  # as Celery checks before logging it
        strategy.logger.info("Task %s[%s] received", context["name"], context["id"])
    trace.info(trace.LOG_SUCCESS, context)
    trace.info(trace.LOG_RETRY, context)
    trace.logger.error(trace.LOG_FAILURE, context)


if __name__ == "__main__":
    main()
