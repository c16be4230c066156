"""Stock Celery for the comparison: Celery's defaults with only the broker and result backend
URLs set, running the very same task functions under the same names. Copied to the worker hosts
by the benchmark and started as `celery -A stock_celery worker` (prefork, concurrency = cores)."""

from __future__ import annotations

import os

from celery import Celery

from app.tasks import health, matching

broker = os.environ["REDIS_URL"]
app = Celery("stock", broker=broker, backend=os.environ.get("RESULT_BACKEND_URL") or broker)
# Importing app.tasks registered app.core.broker_transport for redis:// URLs; stock is kombu's own.
app.conf.broker_transport = "kombu.transport.redis:Transport"
for task in (health.canary, matching.fuzzy_match):
    app.task(name=task.name)(task.run)
