"""The replicated Redis set of a high-availability inventory, seen through redis-cli on its
hosts: who is primary (the Sentinels' answer), each instance's role, the Sentinels' health."""

from __future__ import annotations

from labkit.redis_cli import RedisCli
from labkit.scenario import Scenario

SENTINEL_PORT = 26379
BROKER = ("matchbot-broker", 6379)
CACHE = ("matchbot-cache", 6380)
INSTANCES = (BROKER, CACHE)


def sentinel(scenario: Scenario, host: str, user: str = "sentinel-client") -> RedisCli:
    return scenario.redis_cli(host, SENTINEL_PORT, user)


def admin(scenario: Scenario, host: str, port: int = BROKER[1]) -> RedisCli:
    return scenario.redis_cli(host, port, "admin")


def primary_answers(scenario: Scenario, master: str = BROKER[0]) -> dict[str, str]:
    """Each answering Sentinel's primary for `master` (host → address)."""
    answers = {}
    for host in scenario.hosts("redis"):
        reply = sentinel(scenario, host).run("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master)
        lines = reply.split()
        if len(lines) == 2 and lines[1].isdigit():
            answers[host] = lines[0]
    return answers


def primary_host(scenario: Scenario, master: str = BROKER[0]) -> str | None:
    """The host the Sentinels name as primary, when the answering ones agree."""
    addresses = set(primary_answers(scenario, master).values())
    if len(addresses) != 1:
        return None
    (address,) = addresses
    return next(h for h in scenario.hosts("redis") if scenario.address(h) == address)


def role(scenario: Scenario, host: str, port: int = BROKER[1]) -> dict[str, str]:
    """INFO replication of an instance ({} when it does not answer)."""
    return admin(scenario, host, port).info("replication")


def masters(scenario: Scenario, port: int = BROKER[1]) -> list[str]:
    """The hosts whose instance on `port` says it is a primary."""
    return [h for h in scenario.hosts("redis") if role(scenario, h, port).get("role") == "master"]


def replicas_online(scenario: Scenario, host: str, port: int = BROKER[1]) -> int:
    info = role(scenario, host, port)
    return sum(1 for key, value in info.items() if key.startswith("slave") and "online" in value)


def sentinel_master(scenario: Scenario, host: str, master: str = BROKER[0]) -> dict[str, str]:
    """SENTINEL MASTER as this host's Sentinel sees the primary ({} when it does not answer)."""
    lines = sentinel(scenario, host, "admin").run("SENTINEL", "MASTER", master).splitlines()
    if len(lines) % 2:
        return {}
    return dict(zip(lines[0::2], lines[1::2], strict=True))


def settled(scenario: Scenario) -> str | None:
    """The broker's primary host once the set is whole (after a drill): for every instance
    the Sentinels agree on a primary and it has every other host as an online replica. A
    drill that starts earlier tests the aftermath of the one before (a host still loading
    its first sync), not its own failure."""
    others = len(scenario.hosts("redis")) - 1
    for master, port in INSTANCES:
        primary = primary_host(scenario, master)
        if primary is None or replicas_online(scenario, primary, port) != others:
            return None
    return primary_host(scenario)
