"""The alert rules, with the monitoring role's default thresholds, against promtool's unit
tests (tests/alert_rules/matchbot.test.yml): each alert fires where it should and stays quiet
where it should not, and no alert goes untested.

promtool comes from Debian's prometheus package (scripts/test extracts it: MATCHBOT_PROMTOOL).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles" / "monitoring"
TEMPLATE = ROLE / "templates" / "etc" / "prometheus" / "rules" / "matchbot.rules.yml.j2"
UNIT_TESTS = Path(__file__).resolve().parent / "alert_rules" / "matchbot.test.yml"


def render_rules(variables: dict[str, Any]) -> str:
    """The rules file as the role's template writes it (its own delimiters, from the
    `#jinja2:` line Ansible reads)."""
    header, body = TEMPLATE.read_text().split("\n", 1)
    assert header.startswith("#jinja2:")
    # A YAML file, not HTML: nothing to escape.
    environment = jinja2.Environment(  # noqa: S701
        variable_start_string="<<",
        variable_end_string=">>",
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.from_string(body).render(
        ansible_managed="rendered by the tests", **variables
    )


def role_defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    return defaults


def promtool() -> str:
    found = os.environ.get("MATCHBOT_PROMTOOL") or shutil.which("promtool")
    if not found:
        pytest.fail("promtool not found: run scripts/test, which extracts it (MATCHBOT_PROMTOOL)")
    return found


def alert_names(rules: dict[str, Any]) -> set[str]:
    return {
        rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule
    }


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "matchbot.rules.yml").write_text(render_rules(role_defaults()))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    return tmp_path


def test_the_rules_pass_promtool_check(rules_dir: Path) -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(rules_dir / "matchbot.rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say(rules_dir: Path) -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", str(rules_dir / UNIT_TESTS.name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    rules = yaml.safe_load(render_rules(role_defaults()))
    cases = [
        case
        for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alert_names(rules) - fired == set(), "alerts never seen firing"
    assert alert_names(rules) - quiet == set(), "alerts never seen quiet"


def test_the_thresholds_come_from_the_inventory() -> None:
    variables = role_defaults() | {"monitoring_alert_redis_memory_ratio": 0.75}
    rules = yaml.safe_load(render_rules(variables))
    memory = next(
        rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "RedisMemoryHigh"
    )
    assert "> 0.75" in memory["expr"]
