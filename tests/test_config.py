"""Settings: zero-configuration development, refusal of insecure production settings."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.core.celery import celery_config
from app.core.config import Environment, Settings
from app.core.redaction import redact

SAFE = "redis://celery:Zx81kQpLmN2@redis.internal:6379/0"
SAFE_TLS = "rediss://celery:Zx81kQpLmN2@redis.internal:6379/0"
CA_FILE = "/etc/matchbot/tls/ca.crt"


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
    tls = {"redis_tls_ca_file": CA_FILE, "redis_url": SAFE_TLS, "cache_url": SAFE_TLS}
    assert settings(environment="production", **tls).secrets()


def test_production_refuses_plaintext_redis_unless_told_so() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(environment="production", redis_url=SAFE, cache_url=SAFE)
    assert "REDIS_URL, RESULT_BACKEND_URL, CACHE_URL, REDIS_MONITOR_URL would carry" in str(
        refused.value
    )
    assert "REDIS_ALLOW_PLAINTEXT=true" in str(refused.value)
    opted_out = settings(
        environment="production", redis_url=SAFE, cache_url=SAFE, redis_allow_plaintext=True
    )
    assert opted_out.tls_options() == {}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"redis_tls_ca_file": CA_FILE}, "REDIS_URL is redis:// while REDIS_TLS_CA_FILE is set"),
        ({"redis_url": SAFE_TLS}, "REDIS_URL is rediss:// without REDIS_TLS_CA_FILE"),
        (
            {"redis_tls_ca_file": CA_FILE, "redis_url": SAFE_TLS, "cache_url": "unix:///r.sock"},
            "CACHE_URL is unix:// while REDIS_TLS_CA_FILE is set",
        ),
    ],
)
def test_tls_is_all_or_nothing(values: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        settings(**values)


def test_with_tls_every_client_verifies_the_server_against_the_ca() -> None:
    sentinels = "sentinel://celery:Zx81kQpLmN2@10.0.0.1:26379/0"
    tls = settings(
        redis_tls_ca_file=CA_FILE,
        redis_url=sentinels,
        cache_url=sentinels,
        redis_sentinel_username="sentinel-client",
        redis_sentinel_password="Sx81kQpLmN2",
    )
    verify = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": CA_FILE}
    config = celery_config(tls)
    assert config["broker_use_ssl"] == verify
    assert config["redis_backend_use_ssl"] == verify
    for options in ("broker_transport_options", "result_backend_transport_options"):
        assert config[options]["sentinel_kwargs"]["ssl"] is True
        assert config[options]["sentinel_kwargs"]["ssl_cert_reqs"] == ssl.CERT_REQUIRED


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


ENV_FILE = f"""# written by Ansible
ENVIRONMENT=production
REDIS_URL={SAFE_TLS}
CACHE_URL=rediss://app:Qw12er34tyU@redis.internal:6380/0
REDIS_MONITOR_URL=rediss://monitor:Aa99bb88ccD@redis.internal:6379/0
REDIS_TLS_CA_FILE={CA_FILE}
"""


def check_env_file(text: str) -> subprocess.CompletedProcess[str]:
    """What the preflight runs on the controller: the rendered file on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "app.core.config", "--check"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        env={key: value for key, value in os.environ.items() if key != "REDIS_URL"},
    )


def test_the_check_prints_the_effective_settings_without_secrets() -> None:
    run = check_env_file(ENV_FILE + "TASK_TIME_LIMIT=600\nTASK_SOFT_TIME_LIMIT=500\n")
    assert run.returncode == 0, run.stdout + run.stderr
    effective = json.loads(run.stdout)
    assert effective["task_time_limit"] == 600
    assert effective["broker_visibility_timeout"] == 7200  # the app's default
    assert effective["redis_url"] == "rediss://***@redis.internal:6379/0"
    for password in ("Zx81kQpLmN2", "Qw12er34tyU", "Aa99bb88ccD"):
        assert password not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("BROKER_VISIBILITY_TIMEOUT=60\n", "BROKER_VISIBILITY_TIMEOUT must exceed TASK_TIME_LIMIT"),
        ("TASK_TIME_LIMIT=soon\n", "TASK_TIME_LIMIT: Input should be a valid integer"),
        ("CACHE_URL=rediss://localhost/1\n", "CACHE_URL has no password"),
        ("CACHE_URL=redis://a:Qw12er34tyU@r/1\n", "CACHE_URL is redis:// while REDIS_TLS_CA_FILE"),
        ("REDIS_URL=http://c:Zx81kQpLmN2@r/0\n", "REDIS_URL must be a redis://"),
    ],
)
def test_the_check_refuses_what_the_app_would_refuse(extra: str, problem: str) -> None:
    run = check_env_file(ENV_FILE + extra)
    assert run.returncode == 2
    assert problem in run.stdout
    for password in ("Zx81kQpLmN2", "Qw12er34tyU", "Aa99bb88ccD"):
        assert password not in run.stdout + run.stderr


def test_every_broken_limit_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as error:
        settings(task_soft_time_limit=200, task_time_limit=120, broker_visibility_timeout=60)
    assert "TASK_SOFT_TIME_LIMIT must be below" in str(error.value)
    assert "BROKER_VISIBILITY_TIMEOUT must exceed TASK_TIME_LIMIT" in str(error.value)


def test_an_empty_log_dir_means_no_log_file() -> None:
    assert settings(log_dir="").log_dir is None
