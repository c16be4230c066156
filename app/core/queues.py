"""The five queues and which tasks go where.

Prefetch is a property of the worker, not the queue: workers default to 1 (late acknowledgement,
long tasks); the worker group serving the short `default` tasks raises it (see the
celery_worker role's defaults).
"""

from __future__ import annotations

from enum import StrEnum


class QueueName(StrEnum):
    DEFAULT = "default"
    FILE_PROCESSING = "file_processing"
    AI_MATCHING = "ai_matching"
    REPORTS = "reports"
    CLEANUP = "cleanup"


ALL_QUEUES: tuple[str, ...] = tuple(q.value for q in QueueName)

# Task modules and the queue their tasks are routed to.
TASK_MODULE_QUEUES: dict[str, QueueName] = {
    "app.tasks.health": QueueName.DEFAULT,
    "app.tasks.files": QueueName.FILE_PROCESSING,
    "app.tasks.matching": QueueName.AI_MATCHING,
    "app.tasks.reports": QueueName.REPORTS,
    "app.tasks.cleanup": QueueName.CLEANUP,
}


def task_routes() -> dict[str, dict[str, str]]:
    return {f"{module}.*": {"queue": queue.value} for module, queue in TASK_MODULE_QUEUES.items()}
