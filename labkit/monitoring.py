"""Prometheus and Alertmanager on the scenario's monitoring host, from the controller: what
they scrape, what they know, which alerts are firing, and how long one takes to fire."""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from labkit import http
from labkit.scenario import Scenario
from labkit.waiting import poll

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093


@dataclass(frozen=True)
class Monitoring:
    address: str
    password: str
    user: str = "admin"

    @classmethod
    def of(cls, scenario: Scenario) -> Monitoring:
        host = scenario.hosts("monitoring")[0]
        return cls(scenario.address(host), scenario.secret("monitoring-admin"))

    @property
    def prometheus(self) -> str:
        return f"http://{self.address}:{PROMETHEUS_PORT}"

    @property
    def alertmanager(self) -> str:
        return f"http://{self.address}:{ALERTMANAGER_PORT}"

    def get(self, url: str) -> Any:
        status, body = http.get(url, auth=(self.user, self.password))
        if status != 200:
            raise RuntimeError(f"{url}: {status} {body[:300]}")
        return json.loads(body)

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self.get(f"{self.prometheus}/api/v1/{path}{query}")["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def metric_names(self) -> set[str]:
        return set(self.api("label/__name__/values"))

    def targets(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = self.api("targets", state="active")["activeTargets"]
        return targets

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def active_alerts(self) -> list[dict[str, Any]]:
        """Alertmanager's active alerts (firing, neither silenced nor inhibited)."""
        alerts: list[dict[str, Any]] = self.get(
            f"{self.alertmanager}/api/v2/alerts?active=true&silenced=false&inhibited=false"
        )
        return alerts

    def firing(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        """Alertmanager's active alerts of that name whose labels include `labels`."""
        wanted = {"alertname": alertname, **labels}
        return [
            alert
            for alert in self.active_alerts()
            if all(alert["labels"].get(key) == value for key, value in wanted.items())
        ]

    def seconds_until_firing(self, alertname: str, bound: float, **labels: str) -> float | None:
        """Seconds until Alertmanager has the alert; None when it did not within `bound`."""
        started = time.monotonic()
        found = poll(lambda: self.firing(alertname, **labels), timeout=bound, interval=0.5)
        return time.monotonic() - started if found else None

    def seconds_until_resolved(self, alertname: str, bound: float, **labels: str) -> float | None:
        started = time.monotonic()
        gone = poll(lambda: not self.firing(alertname, **labels), timeout=bound, interval=0.5)
        return time.monotonic() - started if gone else None


def seconds(duration: str) -> float:
    """A Prometheus duration of one unit (15s, 2m, 1h) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    number = duration.rstrip("smhd")
    return float(number) * units[duration[len(number) :]]


def fire_bound(scenario: Scenario, for_variable: str) -> float:
    """The longest an alert may take to reach Alertmanager once its condition holds: a scrape
    to see it, an evaluation to start it, its `for`, an evaluation to fire it, and 10 s for
    the exporter's own refresh and the hand-over to Alertmanager. Read from the inventory."""
    host = scenario.hosts("monitoring")[0]
    scrape = seconds(scenario.var(host, "monitoring_scrape_interval"))
    evaluation = seconds(scenario.var(host, "monitoring_evaluation_interval"))
    return scrape + 2 * evaluation + seconds(scenario.var(host, for_variable)) + 10
