"""labkit.promql finds the metrics an expression reads, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.promql import dashboard_expressions, metric_names

DASHBOARD = Path(__file__).resolve().parent.parent / "roles/monitoring/files/grafana/matchbot.json"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('redis_up{job="redis"} == 0 or up{job="redis"} == 0', {"redis_up", "up"}),
        (
            "histogram_quantile(0.95, sum by (le, task) (rate(flower_runtime_bucket[5m])))",
            {"flower_runtime_bucket"},
        ),
        (
            'label_replace(x{a="b"}, "queue", "$1", "key", "(.+)") > 1e3 offset 5m',
            {"x"},
        ),
        (
            "max_over_time(matchbot:queue_length[1h]) unless on (queue) y",
            {"matchbot:queue_length", "y"},
        ),
        ('count(ALERTS{alertstate="firing"}) or vector(0)', set()),
        ("time() - max by (redis_instance) (backup_ts)", {"backup_ts"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_the_dashboard_has_queries_and_each_reads_a_metric() -> None:
    found = list(dashboard_expressions(DASHBOARD))
    assert len(found) >= 20
    for title, expr in found:
        assert metric_names(expr) or "ALERTS" in expr, title
