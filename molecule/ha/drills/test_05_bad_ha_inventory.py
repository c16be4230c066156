"""Drill HA-7 — bad high-availability inventories: each is refused by site.yml's preflight,
before any host changes, with a message naming the problem."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from labkit.ansible import PlaybookRun

# (what is wrong, extra vars given a scenario's Redis hosts, a fragment the message must carry)
BAD_VARIABLES = [
    (
        "an even number of Redis hosts",
        lambda redis: {"redis_sentinel_hosts": redis[:2]},
        "redis_sentinel_hosts has 2 hosts",
    ),
    ("a quorum above the host count", lambda _: {"redis_sentinel_quorum": 4}, "quorum (4)"),
    ("a quorum of 0", lambda _: {"redis_sentinel_quorum": 0}, "quorum (0)"),
    (
        "more required replicas than replicas",
        lambda _: {"redis_min_replicas_to_write": 3},
        "redis_min_replicas_to_write (3) must not exceed the replicas (2)",
    ),
    (
        "an initial primary outside the set",
        lambda _: {"redis_initial_primary": "elsewhere"},
        "redis_initial_primary (elsewhere)",
    ),
    (
        "an announce address Redis does not bind",
        lambda _: {"redis_announce_address": "10.213.99.99"},
        "redis_announce_address (10.213.99.99)",
    ),
]


@pytest.fixture(scope="module")
def outcomes(scenario, run_site) -> dict[str, PlaybookRun]:
    """Every bad variable set tried once, three at a time (each run stops in the preflight)."""
    extras = [json.dumps(build(scenario.redis_hosts)) for _, build, _ in BAD_VARIABLES]
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = pool.map(lambda extra: run_site("-e", extra), extras)
        return dict(zip([what for what, _, _ in BAD_VARIABLES], runs, strict=True))


@pytest.mark.parametrize(
    ("what", "message"), [(w, m) for w, _, m in BAD_VARIABLES], ids=[w for w, _, _ in BAD_VARIABLES]
)
def test_bad_ha_variables_are_refused_before_any_change(outcomes, figures, what, message):
    run = outcomes[what]
    refused, named = run.refused_before_any_change(), run.names(message)
    figures.record("HA drills - bad inventory input", input=what, refused=refused, named=named)
    assert refused, run.text[-3000:]
    assert named, run.messages()
