"""routes.py TASK: with the app found on PYTHONPATH, print as JSON the queue TASK is routed to
and every queue the app declares."""

from __future__ import annotations

import json
import sys

from app.core.celery import create_celery_app
from app.core.config import Settings


def main() -> None:
    celery_app = create_celery_app(Settings())
    route = celery_app.amqp.router.route({}, sys.argv[1])["queue"].name
    print(json.dumps([route, [queue.name for queue in celery_app.conf.task_queues]]))


if __name__ == "__main__":
    main()
