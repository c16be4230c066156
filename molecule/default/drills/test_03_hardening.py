"""Drill 10 — hardening: `systemd-analyze security` exposure of every unit we ship, printed and
held at 2.0 or lower (Debian's redis-server@ unit scores 1.1)."""

from __future__ import annotations

import re

EXPOSURE_LIMIT = 2.0
# Units a timer starts: not running between runs, so not among scenario.units_of.
TIMED_UNITS = {"redis": ("matchbot-redis-backup-broker",)}


def test_every_unit_is_sandboxed(host, scenario, figures):
    name = host.backend.host
    timed = [unit for group in scenario.groups_of(name) for unit in TIMED_UNITS.get(group, ())]
    for unit in [*scenario.units_of(name), *timed]:
        out = host.run(f"systemd-analyze security --no-pager {unit}.service").stdout
        exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)[1])
        figures.record(
            "Drill 10 - exposure per unit",
            host=name,
            unit=unit,
            exposure=exposure,
            limit=EXPOSURE_LIMIT,
        )
        assert exposure <= EXPOSURE_LIMIT, f"{unit}: exposure {exposure}"
