"""Settings from environment variables: the single contract between Ansible and the app.

Development works with no configuration against a local Redis (broker in DB 0, cache in DB 1).
In production, insecure settings stop start-up with a message saying what to fix.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core import redis_endpoints
from app.core.redaction import describe_url, redact

# Passwords nobody may run production with.
KNOWN_DEFAULT_PASSWORDS = frozenset(
    {"", "redis", "password", "changeme", "change-me", "secret", "admin", "foobared"}
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ResultDetail(StrEnum):
    """What a worker stores per task (set per worker group: celery_worker `results`)."""

    # The STARTED state, and the task's name, arguments, worker, queue and retries with the result.
    FULL = "full"
    # The final state and value only: one result write per task instead of two.
    FINAL = "final"


class TaskLogs(StrEnum):
    """Which tasks a worker logs (set per worker group: celery_worker `task_logs`)."""

    # A line when each task is received and when it succeeds, besides retries and failures.
    EACH = "each"
    # Retries, failures and everything else, but no line per received or succeeded task: Flower
    # and its metrics count every task already (two log lines per task cost a worker of short
    # tasks a tenth of its time, docs/benchmarks.md).
    PROBLEMS = "problems"


class InsecureSettingsError(ValueError):
    """Production settings that must not be used; the message says which and why."""


class Settings(BaseSettings):
    """Every setting the workers, beat, Flower and the backend read."""

    # Errors never quote their input: a Redis URL in it carries a password, and start-up errors
    # end up in the journal.
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Environment = Environment.DEVELOPMENT

    # Redis: broker (queues), results, cache, and a read-only user for health checks.
    # Each URL names one server (redis://, rediss://, unix://) or the Sentinels of a replicated
    # set (sentinel://user:password@host:26379/0;sentinel://…, one per Sentinel; the
    # credentials are the primary's ACL user). See app.core.redis_endpoints.
    redis_url: str = "redis://localhost:6379/0"
    result_backend_url: str | None = None
    cache_url: str = "redis://localhost:6379/1"
    redis_monitor_url: str | None = None
    redis_health_timeout_seconds: float = Field(default=2.0, gt=0)
    # With sentinel:// URLs: the name of each primary in the Sentinels' configuration, and the
    # ACL user the clients authenticate to the Sentinels with.
    redis_sentinel_master: str = "matchbot-broker"
    cache_sentinel_master: str = "matchbot-cache"
    redis_sentinel_username: str | None = None
    redis_sentinel_password: str | None = None
    # TLS: the CA certificate clients verify every Redis server and Sentinel against. Set, every
    # connection is TLS (rediss:// URLs; sentinel:// URLs reach the Sentinels and the primaries
    # over TLS) and must verify; unset, rediss:// URLs are refused. Production refuses a
    # plaintext URL unless REDIS_ALLOW_PLAINTEXT=true (a deliberate, visible opt-out).
    redis_tls_ca_file: Path | None = None
    redis_allow_plaintext: bool = False

    # Time limits (seconds): soft raises inside the task, hard kills the process.
    task_soft_time_limit: int = Field(default=25 * 60, gt=0)
    task_time_limit: int = Field(default=30 * 60, gt=0)
    # Redis redelivers unacknowledged tasks after this; must exceed the hard limit. It is the
    # backstop: a worker that dies has its tasks back within its liveness (below).
    broker_visibility_timeout: int = Field(default=2 * 60 * 60, gt=0)
    # A worker refreshes its liveness three times per period; once it lapses (crash, SIGKILL,
    # host or network lost) the other workers put its unacknowledged tasks back in their
    # queues. Long enough to ride out a stalled event loop, short enough to redeliver fast.
    broker_consumer_liveness_seconds: float = Field(default=15.0, ge=1)
    # Largest task message accepted at publish (the atomic fetch decodes messages in Redis).
    broker_max_message_bytes: int = Field(default=1024 * 1024, gt=0)

    # Retries of transient errors: exponential backoff with full jitter.
    task_max_retries: int = Field(default=5, ge=0)
    task_retry_backoff_seconds: int = Field(default=2, ge=1)
    task_retry_backoff_max_seconds: int = Field(default=600, ge=1)

    result_expires_seconds: int = Field(default=24 * 60 * 60, gt=0)
    worker_max_tasks_per_child: int = Field(default=1000, gt=0)
    worker_max_memory_per_child_kib: int = Field(default=512_000, gt=0)
    # 1 suits late acknowledgement and long tasks; raise it per worker group for short tasks.
    worker_prefetch_multiplier: int = Field(default=1, ge=1)
    result_detail: ResultDetail = ResultDetail.FULL
    task_logs: TaskLogs = TaskLogs.EACH

    # Health check of the Celery side (backend).
    celery_health_timeout_seconds: float = Field(default=10.0, gt=0)

    # Files: uploads are read from data_dir/uploads, reports written to data_dir/reports.
    data_dir: Path = Path("var")
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_rows: int = Field(default=1_000_000, gt=0)
    max_match_items: int = Field(default=10_000, gt=0)
    max_text_length: int = Field(default=1_000, gt=0)

    # Cleanup: files and un-expiring cache keys idle longer than this are removed.
    cleanup_max_age_seconds: int = Field(default=7 * 24 * 60 * 60, gt=0)
    cleanup_interval_seconds: int = Field(default=60 * 60, gt=0)
    beat_schedule_file: Path = Path("var/celerybeat-schedule")

    # Logging: console always; with log_dir, also log_dir/<service>.log (logrotate-friendly).
    log_level: str = "INFO"
    log_dir: Path | None = None
    service_name: str = "matchbot"

    sentry_dsn: str | None = None

    # The task API's clients (app.api.auth): a file of `<client> <SHA-256 of its token>` lines,
    # written by the backend role. Unset or missing: every /tasks request is refused.
    api_clients_file: Path | None = None

    @property
    def broker_url(self) -> str:
        return self.redis_url

    @property
    def results_url(self) -> str:
        return self.result_backend_url or self.redis_url

    @property
    def monitor_url(self) -> str:
        return self.redis_monitor_url or self.redis_url

    def redis_urls(self) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis_url,
            "RESULT_BACKEND_URL": self.results_url,
            "CACHE_URL": self.cache_url,
            "REDIS_MONITOR_URL": self.monitor_url,
        }

    def uses_sentinel(self, url: str) -> bool:
        return redis_endpoints.parse(url).sentinel

    def tls_options(self) -> dict[str, Any]:
        """Connection options (redis-py, kombu's `broker_use_ssl`, Celery's
        `redis_backend_use_ssl`) that verify the server against the CA; {} without TLS."""
        if self.redis_tls_ca_file is None:
            return {}
        return {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(self.redis_tls_ca_file)}

    def sentinel_kwargs(self) -> dict[str, Any]:
        """How clients reach and authenticate to the Sentinels (redis-py's
        `sentinel_kwargs`). kombu and Celery apply their TLS settings to the primary only:
        without `ssl` here the Sentinels are spoken to in plaintext (celery #8016)."""
        credentials = {
            "username": self.redis_sentinel_username,
            "password": self.redis_sentinel_password,
        }
        kwargs: dict[str, Any] = {key: value for key, value in credentials.items() if value}
        tls = self.tls_options()
        return {**kwargs, "ssl": True, **tls} if tls else kwargs

    def secrets(self) -> list[str]:
        """Every password in the settings, for redaction."""
        found = [p for url in self.redis_urls().values() for p in redis_endpoints.passwords(url)]
        found.append(self.redis_sentinel_password or "")
        if self.sentry_dsn:
            found.append(urlsplit(self.sentry_dsn).username or "")
        return [secret for secret in found if secret]

    @field_validator(
        "log_dir",
        "api_clients_file",
        "sentry_dsn",
        "result_backend_url",
        "redis_monitor_url",
        "redis_sentinel_username",
        "redis_sentinel_password",
        "redis_tls_ca_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`LOG_DIR=` in an environment file means no log file, not the current folder."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_limits(self) -> Settings:
        problems = []
        if self.task_soft_time_limit >= self.task_time_limit:
            problems.append(
                "TASK_SOFT_TIME_LIMIT must be below TASK_TIME_LIMIT "
                f"({self.task_soft_time_limit} >= {self.task_time_limit})"
            )
        if self.broker_visibility_timeout <= self.task_time_limit:
            problems.append(
                "BROKER_VISIBILITY_TIMEOUT must exceed TASK_TIME_LIMIT, or Redis redelivers "
                f"running tasks ({self.broker_visibility_timeout} <= {self.task_time_limit})"
            )
        if self.broker_consumer_liveness_seconds >= self.broker_visibility_timeout:
            problems.append(
                "BROKER_CONSUMER_LIVENESS_SECONDS must be below BROKER_VISIBILITY_TIMEOUT "
                f"({self.broker_consumer_liveness_seconds} >= {self.broker_visibility_timeout})"
            )
        for name, url in self.redis_urls().items():
            try:
                redis_endpoints.parse(url)
            except ValueError as error:
                problems.append(
                    f"{name} must be a redis://, rediss:// or unix:// URL, or sentinel:// URLs "
                    f"separated by ';' ({error})"
                )
        problems += self._tls_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _tls_problems(self) -> list[str]:
        """TLS all or nothing: with a CA file no plaintext URL, without one no rediss://."""
        problems = []
        for name, url in self.redis_urls().items():
            try:
                scheme = redis_endpoints.parse(url).scheme
            except ValueError:
                continue  # reported above
            if self.redis_tls_ca_file is not None and scheme in ("redis", "unix"):
                problems.append(
                    f"{name} is {scheme}:// while REDIS_TLS_CA_FILE is set: use rediss://"
                )
            if self.redis_tls_ca_file is None and scheme == "rediss":
                problems.append(
                    f"{name} is rediss:// without REDIS_TLS_CA_FILE, the CA to verify it against"
                )
        return problems

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.environment is not Environment.PRODUCTION:
            return self
        problems = []
        for name, url in self.redis_urls().items():
            endpoint = redis_endpoints.parse(url)
            if not endpoint.password:
                problems.append(f"{name} has no password")
            elif endpoint.password.lower() in KNOWN_DEFAULT_PASSWORDS:
                problems.append(f"{name} uses a well-known default password")
            elif not endpoint.username:
                problems.append(f"{name} names no ACL user (the default user must stay off)")
        if self.redis_tls_ca_file is None and not self.redis_allow_plaintext:
            plaintext = [
                name
                for name, url in self.redis_urls().items()
                if redis_endpoints.parse(url).scheme in ("redis", redis_endpoints.SENTINEL)
            ]
            if plaintext:
                problems.append(
                    f"{', '.join(plaintext)} would carry passwords and tasks in clear text: set "
                    "REDIS_TLS_CA_FILE and use rediss:// (or sentinel://), or opt out with "
                    "REDIS_ALLOW_PLAINTEXT=true"
                )
        uses_sentinel = any(self.uses_sentinel(url) for url in self.redis_urls().values())
        if uses_sentinel and not (self.redis_sentinel_username and self.redis_sentinel_password):
            problems.append(
                "sentinel:// URLs need REDIS_SENTINEL_USERNAME and REDIS_SENTINEL_PASSWORD "
                "(the Sentinels' ACL user)"
            )
        if problems:
            raise InsecureSettingsError(
                "insecure production settings: "
                + "; ".join(problems)
                + ". Use the ACL users and passwords the redis role generated."
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines of an environment file as systemd reads it (comments, blanks skipped)."""
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, value = stripped.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def settings_from_env_file(text: str, **overrides: Any) -> Settings:
    """The settings an environment file gives a service (only the file: not this process's
    environment), with `overrides` by field name."""
    fields = {key.lower(): value for key, value in parse_env_file(text).items()}
    values = {name: value for name, value in fields.items() if name in Settings.model_fields}
    return Settings.model_validate({**values, **overrides})


def public_view(settings: Settings) -> dict[str, Any]:
    """Every setting an operator may see: URLs without credentials, no Sentinel password, no
    Sentry DSN."""
    view = settings.model_dump(mode="json", exclude={"sentry_dsn", "redis_sentinel_password"})
    for name, url in settings.redis_urls().items():
        view[name.lower()] = describe_url(url)
    view["sentry_dsn_set"] = settings.sentry_dsn is not None
    return view


def check(text: str) -> tuple[bool, str]:
    """Validate an environment file with the app's own rules: (valid, what to print). What is
    printed never holds a secret: the errors quote no input, and known secrets are masked."""
    values = parse_env_file(text)
    secrets = [p for value in values.values() for p in redis_endpoints.passwords(value)]
    secrets.append(values.get("REDIS_SENTINEL_PASSWORD", ""))
    try:
        settings = settings_from_env_file(text)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in error.errors(include_input=False, include_url=False)
        ]
        return False, redact("; ".join(problems), [s for s in secrets if s])
    return True, json.dumps(public_view(settings), sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    """python -m app.core.config --check < matchbot.env: exit 0 and the effective settings as
    JSON (no secret), or exit 2 and what is wrong."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", required=True)
    parser.parse_args(argv)
    valid, report = check(sys.stdin.read())
    print(report)
    return 0 if valid else 2


if __name__ == "__main__":
    raise SystemExit(main())
