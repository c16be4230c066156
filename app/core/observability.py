"""Logging (configured once per process) and Sentry (only when a DSN is set)."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from celery.app.trace import LOG_SUCCESS

from app.core.config import Settings, TaskLogs
from app.core.redaction import RedactingFilter

LOG_FORMAT = "%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s"
# Celery's loggers of the line per received task and of the line per task that succeeded (the
# latter also logs retries and failures, which stay).
RECEIVED_LOGGER = "celery.worker.strategy"
OUTCOME_LOGGER = "celery.app.trace"
_configured = False


def drop_success_lines(record: logging.LogRecord) -> bool:
    """Keep every record of the trace logger but the one per task that succeeded."""
    return record.msg is not LOG_SUCCESS


def configure_logging(settings: Settings) -> None:
    """Console logging, plus <log_dir>/<service>.log when log_dir is set.

    The file handler is a WatchedFileHandler: logrotate moves the file away and the process
    reopens it on the next record, so no copytruncate and no signal are needed.
    """
    global _configured
    if _configured:
        return
    redacting = RedactingFilter(settings.secrets())
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.log_dir is not None:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        path = settings.log_dir / f"{settings.service_name}.log"
        handlers.append(logging.handlers.WatchedFileHandler(path, encoding="utf-8"))
    root = logging.getLogger()
    root.handlers.clear()
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(redacting)
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    if settings.task_logs is TaskLogs.PROBLEMS:
        # Before the worker starts: Celery checks once whether its loggers log INFO.
        logging.getLogger(RECEIVED_LOGGER).setLevel(logging.WARNING)
        logging.getLogger(OUTCOME_LOGGER).addFilter(drop_success_lines)
    _configured = True


def init_sentry(settings: Settings) -> bool:
    """Wire Sentry only when SENTRY_DSN is set; returns whether it was."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment.value,
        send_default_pii=False,
    )
    return True
