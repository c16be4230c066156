"""FastAPI application, built by its factory: `uvicorn --factory app.api.main:create_app` (the
backend role runs it under systemd). The factory is the API process's entry point: it sets up
logging and Sentry and builds the process's one Celery app (a publisher)."""

from __future__ import annotations

from fastapi import FastAPI

from app.api import health, tasks
from app.api.auth import ApiClients
from app.api.deps import ApiContext
from app.core.celery import create_celery_app
from app.core.config import Environment, Settings, get_settings
from app.core.observability import configure_logging, init_sentry


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    init_sentry(settings)
    # The OpenAPI schema and its pages are for development: production serves neither.
    public_docs = settings.environment is not Environment.PRODUCTION
    api = FastAPI(
        title="MatchBot task platform",
        version="0.1.0",
        openapi_url="/openapi.json" if public_docs else None,
    )
    api.state.context = ApiContext(settings=settings, celery=create_celery_app(settings))
    api.state.clients = ApiClients.load(settings.api_clients_file)
    api.include_router(health.router)
    api.include_router(tasks.router)
    return api
