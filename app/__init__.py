"""MatchBot background-task platform: Celery app, tasks and the FastAPI health backend."""
