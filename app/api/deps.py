"""What every request handler needs: settings and a Celery client (publisher only)."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from fastapi import Request

from app.core.config import Settings
from app.core.redaction import redact


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    celery: Celery

    def safe(self, text: str) -> str:
        """Text fit for a response: no URL credentials, no password."""
        return redact(text, self.settings.secrets())


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx
