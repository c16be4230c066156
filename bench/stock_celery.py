"""Stock Celery for the comparison: Celery's defaults with only what connecting needs set (the
URLs, TLS verification, the Sentinels' primary name), running the very same tasks under the
same names (they join every app). Copied to the worker hosts by the benchmark and started as
`celery -A stock_celery worker` (prefork, concurrency = cores). Its transport is kombu's own:
nothing here installs the atomic fetch."""

from __future__ import annotations

from celery import Celery

from app.core.celery import sentinel_options
from app.core.config import get_settings
from app.tasks import health, matching  # noqa: F401 - their tasks join every app

settings = get_settings()
app = Celery("stock", broker=settings.broker_url, backend=settings.results_url)
# With TLS the URLs alone cannot connect: the same verification as the platform's clients.
app.conf.broker_use_ssl = settings.tls_options() or False
app.conf.redis_backend_use_ssl = settings.tls_options() or None
# With Sentinel (sentinel:// URLs) neither connects without the primary's name (kombu's
# transport and Celery's backend ask the Sentinels for it): the platform's options, no more.
master = settings.redis_sentinel_master
app.conf.broker_transport_options = sentinel_options(settings, settings.broker_url, master)
app.conf.result_backend_transport_options = sentinel_options(settings, settings.results_url, master)
app.settings = settings  # what the app's tasks read their limits from
