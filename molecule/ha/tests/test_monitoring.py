"""Monitoring: Prometheus scrapes every exporter the inventory implies, all on private
addresses; the UIs want the password; the exporters read Redis as a read-only user whose
password is in no command line and no world-readable file; the queues' lengths are metrics;
every metric the dashboard and the alert rules read exists here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.core.queues import ALL_QUEUES
from labkit import hosts, http
from labkit.monitoring import Monitoring
from labkit.promql import dashboard_expressions, metric_names
from labkit.waiting import poll, wait_until

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "roles/monitoring/files/grafana/matchbot.json"
RULES = "/etc/prometheus/rules/matchbot.rules.yml"


@pytest.fixture(scope="module")
def monitoring(scenario) -> Monitoring:
    return Monitoring.of(scenario)


def expected_targets(scenario) -> set[tuple[str, str]]:
    """(job, host) of every target the inventory implies."""
    every = {("node", host) for host in scenario.every_host}
    redis = {("redis", host) for host in scenario.redis_hosts}
    sentinel = {("sentinel", host) for host in scenario.redis_hosts}
    app = {("flower", scenario.app_host), ("health", scenario.app_host)}
    own = {(job, scenario.hosts("monitoring")[0]) for job in ("prometheus", "alertmanager")}
    return every | redis | sentinel | app | own


def test_every_target_from_the_inventory_is_scraped_and_up(scenario, monitoring):
    def all_up():
        targets = monitoring.targets()
        return all(t["health"] == "up" for t in targets) and targets

    targets = poll(all_up, timeout=60) or monitoring.targets()
    down = [
        (t["labels"]["job"], t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"
    ]
    assert down == []
    assert {(t["labels"]["job"], t["labels"]["host"]) for t in targets} == expected_targets(
        scenario
    )
    # Two exporters per Redis host (broker, cache) and two health checks.
    assert sum(t["labels"]["job"] == "redis" for t in targets) == 2 * len(scenario.redis_hosts)
    assert sum(t["labels"]["job"] == "health" for t in targets) == 2


def test_the_web_uis_want_the_password(monitoring):
    for base in (monitoring.prometheus, monitoring.alertmanager):
        assert http.get(f"{base}/-/ready")[0] == 401, base
        assert http.get(f"{base}/-/ready", auth=("admin", "wrong-password"))[0] == 401, base
        assert http.get(f"{base}/-/ready", auth=("admin", monitoring.password))[0] == 200, base


def listening(host: str) -> set[str]:
    lines = hosts.sh(host, "ss -Hltn").splitlines()
    return {line.split()[3] for line in lines if line.strip()}


def test_exporters_and_uis_listen_only_on_private_addresses(scenario):
    exporter_ports = {"9100", "9121", "9122", "9123", "9090", "9093", "9094", "9115"}
    for host in scenario.every_host:
        own = scenario.address(host)
        for socket in listening(host):
            address, _, port = socket.rpartition(":")
            if port in exporter_ports:
                allowed = ("127.0.0.1",) if port == "9115" else (own,)
                assert address in allowed, (host, socket)
    monitor = scenario.hosts("monitoring")[0]
    assert not any(s.endswith(":9094") for s in listening(monitor)), "Alertmanager cluster port"


def test_the_queue_lengths_are_metrics(scenario, monitoring):
    queues = set(ALL_QUEUES)  # where site.yml takes them from (app.core.manifest)
    found = poll(
        lambda: {r["metric"]["queue"] for r in monitoring.query("matchbot:queue_length")}, 60
    )
    assert found == queues


def test_the_exporters_user_reads_and_cannot_write(scenario):
    host = scenario.redis_host
    exporter = scenario.redis_cli(host, 6379, "exporter", address=scenario.address(host))
    assert exporter.run("LLEN", "default").isdigit()
    for command in (
        ["SET", "default", "x"],
        ["CONFIG", "GET", "masterauth"],
        ["LPOP", "default"],
        ["GET", "celery-task-meta-x"],
        ["FLUSHALL"],
    ):
        assert "NOPERM" in exporter.run(*command), command


def test_no_password_on_a_command_line_or_in_a_readable_file(scenario):
    password = scenario.secret("redis-exporter")
    for host in scenario.redis_hosts:
        assert password not in hosts.sh(host, "ps -eo args")
        modes = hosts.sh(host, "stat -c '%a %U' /etc/default/prometheus-redis-exporter-*").split(
            "\n"
        )
        assert {line for line in modes if line} == {"600 root"}, (host, modes)
    monitor = scenario.hosts("monitoring")[0]
    config = hosts.sh(monitor, "cat /etc/prometheus/prometheus.yml /etc/prometheus/web.yml")
    secret = scenario.secret("monitoring-admin")
    assert secret not in config
    assert secret not in hosts.sh(monitor, "ps -eo args")


def test_every_alert_rule_is_loaded(scenario, monitoring):
    monitor = scenario.hosts("monitoring")[0]
    written = yaml.safe_load(hosts.sh(monitor, f"cat {RULES}"))
    alerts = {r["alert"] for g in written["groups"] for r in g["rules"] if "alert" in r}
    loaded = {rule["name"] for rule in monitoring.rules() if rule["type"] == "alerting"}
    assert loaded == alerts and len(alerts) >= 20


def test_every_metric_of_the_dashboard_and_the_rules_exists_here(scenario, monitoring):
    """What the dashboard (and every rule) reads is a metric this lab's Prometheus has: a
    renamed exporter metric or a typo shows here, not on an operator's blank panel."""
    monitor = scenario.hosts("monitoring")[0]
    written = yaml.safe_load(hosts.sh(monitor, f"cat {RULES}"))
    wanted: dict[str, str] = {}
    for title, expr in dashboard_expressions(DASHBOARD):
        wanted |= dict.fromkeys(metric_names(expr), f"dashboard: {title}")
    for group in written["groups"]:
        for rule in group["rules"]:
            label = rule.get("alert") or rule.get("record")
            wanted |= dict.fromkeys(metric_names(rule["expr"]), f"rule: {label}")

    def missing():
        return {
            name: where for name, where in wanted.items() if name not in monitoring.metric_names()
        }

    # Flower's task metrics appear with the first task events of this scenario's tests.
    assert wait_until(lambda: not missing(), timeout=120), missing()
