"""Drill 9 — secrets: no password or key material in process lists, journald, log files or
HTTP responses, and no secret file readable by other users. (Ansible output:
test_12_converge_again.)"""

from __future__ import annotations

import pytest

PLACES = {
    "process list": "ps -eo args",
    "journal": "journalctl --no-pager -o cat",
    "log files": "cat /var/log/matchbot/*.log /var/log/redis/*.log 2>/dev/null",
}
SECRET_FILES = (
    "/etc/matchbot/matchbot.env",
    "/etc/matchbot/flower.env",
    "/etc/redis/users-broker.acl",
    "/etc/redis/users-cache.acl",
    "/etc/redis/tls/redis.key",
    "/etc/default/prometheus-redis-exporter-broker",
    "/etc/default/prometheus-redis-exporter-cache",
)


@pytest.mark.parametrize("place", PLACES)
def test_no_password_in(host, scenario, figures, place):
    text = host.run(PLACES[place]).stdout
    assert text, place
    leaked = sum(value in text for value in scenario.all_secrets())
    figures.record(
        "Drill 9 - secrets", host=host.backend.host, place=place, bytes=len(text), leaked=leaked
    )
    assert leaked == 0, f"a password appears in the {place}"


def test_no_password_in_http_responses(scenario, figures):
    credentials = ("admin", scenario.secret("flower-admin"))
    responses = [
        *(
            scenario.http.get(scenario.backend_url(f"/health-check/{check}"), token=token)
            for check in ("redis", "celery")
            for token in (None, scenario.api_token)  # anonymous, then the details
        ),
        scenario.http.get(scenario.flower_url("/api/workers?refresh=1"), auth=credentials),
        scenario.http.get(scenario.flower_url("/broker"), auth=credentials),
        scenario.http.get(scenario.flower_url("/metrics")),
        # The exporters' metrics (plain HTTP on the private network).
        *(
            scenario.http.get(f"http://{scenario.address(scenario.redis_host)}:{port}/metrics")
            for port in (9100, 9121, 9122)
        ),
    ]
    text = "\n".join(body for _, body in responses)
    leaked = sum(value in text for value in scenario.all_secrets())
    figures.record(
        "Drill 9 - secrets",
        host=scenario.app_host,
        place="HTTP responses",
        bytes=len(text),
        leaked=leaked,
    )
    assert all(status == 200 for status, _ in responses), [s for s, _ in responses]
    assert leaked == 0


def test_secret_files_are_not_world_readable(host):
    for path in SECRET_FILES:
        file = host.file(path)
        if file.exists:
            assert file.mode & 0o007 == 0, path
