"""Celery tasks, one module per queue (see app.core.queues.TASK_MODULE_QUEUES)."""
