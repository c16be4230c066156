"""The metric names a PromQL expression reads, and the expressions of a Grafana dashboard.

Enough of PromQL for our dashboard and rules: strings, label matchers, ranges and the label
lists of `by`/`without`/`on`/`ignoring`/`group_left`/`group_right` are dropped; what is left
that looks like a name and is not a function, a keyword or part of a number is a metric.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan", "atan2"}
)
# Series Prometheus makes itself from the alert rules (there only while an alert is pending
# or firing).
SYNTHETIC = frozenset({"ALERTS", "ALERTS_FOR_STATE"})

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_NAME = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    names = set()
    for match in _NAME.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names - SYNTHETIC


def dashboard_expressions(path: Path) -> Iterator[tuple[str, str]]:
    """(panel title, expression) of every query of a Grafana dashboard, rows included."""
    dashboard: dict[str, Any] = json.loads(path.read_text())

    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield panel.get("title", "?"), target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard.get("panels", []))
