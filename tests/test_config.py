"""Settings: zero-configuration development, refusal of insecure production settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.celery import celery_config
from app.core.config import Environment, Settings
from app.core.redaction import redact

SAFE = "redis://celery:Zx81kQpLmN2@redis.internal:6379/0"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_development_needs_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "REDIS_URL", "CACHE_URL", "RESULT_BACKEND_URL"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    assert defaults.environment is Environment.DEVELOPMENT
    assert defaults.broker_url == "redis://localhost:6379/0"
    assert defaults.results_url == defaults.broker_url
    assert defaults.task_soft_time_limit == 25 * 60
    assert defaults.task_time_limit == 30 * 60


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", SAFE)
    monkeypatch.setenv("TASK_SOFT_TIME_LIMIT", "60")
    monkeypatch.setenv("TASK_TIME_LIMIT", "90")
    loaded = Settings()
    assert loaded.broker_url == SAFE
    assert (loaded.task_soft_time_limit, loaded.task_time_limit) == (60, 90)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://localhost:6379/0", "REDIS_URL has no password"),
        ("redis://celery:changeme@localhost:6379/0", "well-known default password"),
        ("redis://:Zx81kQpLmN2@localhost:6379/0", "names no ACL user"),
    ],
)
def test_production_refuses_insecure_redis_urls(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        settings(environment="production", redis_url=url, cache_url=SAFE)


def test_production_accepts_acl_users_with_passwords() -> None:
    assert settings(environment="production", redis_url=SAFE, cache_url=SAFE).secrets()


def test_visibility_timeout_must_exceed_the_hard_limit() -> None:
    with pytest.raises(ValidationError, match="BROKER_VISIBILITY_TIMEOUT must exceed"):
        settings(task_time_limit=1800, broker_visibility_timeout=1800)


def test_soft_limit_must_be_below_the_hard_limit() -> None:
    with pytest.raises(ValidationError, match="TASK_SOFT_TIME_LIMIT must be below"):
        settings(task_soft_time_limit=1800, task_time_limit=1800)


def test_error_messages_never_carry_the_password() -> None:
    with pytest.raises(ValidationError) as error:
        settings(environment="production", redis_url=SAFE, cache_url="redis://localhost/1")
    assert "Zx81kQpLmN2" not in str(error.value)


@pytest.mark.parametrize(
    "environment",
    [
        # pydantic quotes the input of a rule across fields, shortened only past 50 characters:
        {"REDIS_URL": "http://c:Zx81kQpLmN2@r/0"},
        {"REDIS_URL": "redis://c:Zx81kQpLmN2@r/0", "TASK_SOFT_TIME_LIMIT": "9000"},
        {"ENVIRONMENT": "production", "REDIS_URL": SAFE, "TASK_TIME_LIMIT": "soon"},
        {"ENVIRONMENT": "staging", "REDIS_URL": SAFE},
    ],
    ids=["scheme", "rule across fields", "wrong type", "unknown choice"],
)
def test_start_up_errors_never_print_the_password(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    """What a service prints when it refuses to start (into the journal): no password."""
    for name in ("ENVIRONMENT", "REDIS_URL", "CACHE_URL", "TASK_SOFT_TIME_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert "Zx81kQpLmN2" not in str(error.value)
    assert "Zx81kQpLmN2" not in repr(error.value)


def test_redact_hides_url_credentials_and_known_secrets() -> None:
    text = f"cannot reach {SAFE}; password Zx81kQpLmN2"
    cleaned = redact(text, ["Zx81kQpLmN2"])
    assert "Zx81kQpLmN2" not in cleaned
    assert "celery:" not in cleaned
    assert "redis://***@redis.internal:6379/0" in cleaned


def test_result_detail_final_stores_the_outcome_only() -> None:
    full, final = celery_config(settings()), celery_config(settings(result_detail="final"))
    assert full["task_track_started"] and full["result_extended"]
    assert not final["task_track_started"] and not final["result_extended"]


def test_result_detail_is_full_or_final() -> None:
    with pytest.raises(ValidationError, match="result_detail"):
        settings(result_detail="some")
