"""What the app asks of the platform, for Ansible: `python -m app.core.manifest` prints it.

- `queues`: every queue (app.core.queues), so the worker role refuses a group on an unknown one;
- `broker_key_patterns` and `broker_channels`: the Redis keys and pub/sub channels Celery,
  kombu and app.core.broker_transport use on the broker, so the redis role's ACL for the Celery
  user covers exactly them. Every key of a queue starts with its name: the list itself,
  kombu's priority lists `<queue>\\x06\\x16<n>`, the transport's wake list `<queue>\\x06\\x16wake`.

The preflight of site.yml runs it on the controller from the checkout being deployed; it
imports nothing but the standard library and app.core.queues, so any Python 3.11 runs it.
Adding a queue is a change to app/core/queues.py: everything else follows from this.
"""

from __future__ import annotations

import json
from typing import Any

from app.core.queues import ALL_QUEUES

# Broker DB of the channels Celery's events and remote control use (`/<db>.` prefix).
BROKER_DB = 0

# Celery's and kombu's own keys: results and groups (celery-task-meta-*, celery-taskset-meta-*,
# Celery's default queue `celery`), exchange bindings, kombu's unacked index/hash/mutex, and
# the reply queues of remote control (`<uuid>.reply.celery.pidbox`).
CELERY_KEY_PATTERNS = ("celery*", "_kombu.*", "unacked*", "*.celery.pidbox*")

# Events (Flower subscribes with a pattern, which Redis's ACL must grant literally), remote
# control broadcasts, and the result channels the result backend publishes on.
CELERY_CHANNELS = (
    f"/{BROKER_DB}.celeryev/*",
    f"/{BROKER_DB}.celeryev/worker.*",
    f"/{BROKER_DB}.celery.pidbox",
    "celery-task-meta-*",
    "celery-taskset-meta-*",
)


def manifest() -> dict[str, Any]:
    return {
        "queues": list(ALL_QUEUES),
        "broker_key_patterns": [*CELERY_KEY_PATTERNS, *(f"{queue}*" for queue in ALL_QUEUES)],
        "broker_channels": list(CELERY_CHANNELS),
    }


if __name__ == "__main__":
    print(json.dumps(manifest()))
