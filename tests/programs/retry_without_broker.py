"""retry_without_broker.py PORT: retry a task as a worker would, with the broker at a port
nothing listens on; prints "rejected, requeue=<bool>"."""

from __future__ import annotations

import sys
import uuid

from celery.exceptions import Reject
from kombu import Connection

from app.core.celery import create_celery_app
from app.core.config import get_settings
from app.tasks import health  # noqa: F401 - defines the task the app runs
from app.tasks.base import TransientError


def main() -> None:
    retry_probe = create_celery_app(get_settings()).tasks["app.tasks.health.retry_probe"]
    nowhere = Connection(f"redis://celery:unused@127.0.0.1:{sys.argv[1]}/0", connect_timeout=1)
    retry_probe.push_request(
        id=uuid.uuid4().hex, kwargs={"probe_id": "p", "failures": 1}, called_directly=False
    )
    try:
        retry_probe.retry(exc=TransientError("cache away"), connection=nowhere, retry=False)
    except Reject as rejected:
        print(f"rejected, requeue={rejected.requeue}")


if __name__ == "__main__":
    main()
