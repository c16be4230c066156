"""import_everything.py: import every module of app/ in a fresh interpreter and print, as JSON,
what that changed: Celery apps created, kombu transport and Celery result backend aliases,
logging handlers, Sentry."""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil

import sentry_sdk
from celery import _state
from celery.app.backends import BACKEND_ALIASES
from kombu.transport import TRANSPORT_ALIASES

import app


def main() -> None:
    aliases = (dict(TRANSPORT_ALIASES), dict(BACKEND_ALIASES))
    handlers = list(logging.getLogger().handlers)
    modules = sorted(module.name for module in pkgutil.walk_packages(app.__path__, "app."))
    for name in modules:
        importlib.import_module(name)
    report = {
        "modules": modules,
        "celery_apps": len(_state._apps),
        "transport_aliases_changed": (dict(TRANSPORT_ALIASES), dict(BACKEND_ALIASES)) != aliases,
        "logging_changed": logging.getLogger().handlers != handlers,
        "sentry_active": sentry_sdk.get_client().is_active(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
