"""Stock Celery for the comparison: Celery's defaults with only the broker and result backend
URLs set, running the very same tasks under the same names (they join every app). Copied to
the worker hosts by the benchmark and started as `celery -A stock_celery worker` (prefork,
concurrency = cores). Its transport is kombu's own: nothing here installs the atomic fetch."""

from __future__ import annotations

from celery import Celery

from app.core.config import get_settings
from app.tasks import health, matching  # noqa: F401 - their tasks join every app

settings = get_settings()
app = Celery("stock", broker=settings.broker_url, backend=settings.results_url)
# With TLS the URLs alone cannot connect: the same verification as the platform's clients.
app.conf.broker_use_ssl = settings.tls_options() or False
app.conf.redis_backend_use_ssl = settings.tls_options() or None
app.settings = settings  # what the app's tasks read their limits from
