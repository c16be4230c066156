"""An inventory of lab hosts as the tests and the benchmark see it: who runs what, where, with
which credentials. Read from the inventory itself (`ansible-inventory --list`), the worker
groups from the inventory or, when it sets none, from the celery_worker role's defaults."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from labkit import hosts
from labkit.http import Client
from labkit.redis_cli import RedisCli

ROOT = Path(__file__).resolve().parent.parent
WORKER_DEFAULTS = ROOT / "roles" / "celery_worker" / "defaults" / "main.yml"
# What every PEM private key holds (-----BEGIN EC PRIVATE KEY-----, …).
KEY_MARKER = "PRIVATE KEY-----"


@dataclass(frozen=True)
class Scenario:
    inventory: Path

    @cached_property
    def _listing(self) -> dict[str, Any]:
        listing = subprocess.run(
            ["ansible-inventory", "-i", str(self.inventory), "--list"],
            capture_output=True,
            text=True,
            check=True,
        )
        parsed: dict[str, Any] = json.loads(listing.stdout)
        return parsed

    def hosts(self, group: str) -> list[str]:
        """Hosts of `group` and of its child groups, in inventory order."""
        entry = self._listing.get(group, {})
        found = list(entry.get("hosts", []))
        for child in entry.get("children", []):
            found += [host for host in self.hosts(child) if host not in found]
        return found

    def groups_of(self, host: str) -> list[str]:
        return [group for group in self._listing if group != "_meta" and host in self.hosts(group)]

    def var(self, host: str, name: str) -> Any:
        return self._listing["_meta"]["hostvars"].get(host, {}).get(name)

    def address(self, host: str) -> str:
        return str(self.var(host, "matchbot_private_address"))

    @property
    def redis_host(self) -> str:
        return self.hosts("redis")[0]

    @property
    def redis_hosts(self) -> list[str]:
        return self.hosts("redis")

    @property
    def app_host(self) -> str:
        return self.hosts("backend")[0]

    @property
    def worker_hosts(self) -> list[str]:
        return self.hosts("workers")

    @property
    def every_host(self) -> list[str]:
        return list(dict.fromkeys(self.hosts("all")))

    @cached_property
    def worker_groups(self) -> list[dict[str, Any]]:
        """The worker groups deployed on every worker host: name, queues, …"""
        groups = self.var(self.worker_hosts[0], "celery_worker_groups")
        if groups is None:
            groups = yaml.safe_load(WORKER_DEFAULTS.read_text())["celery_worker_groups"]
        return list(groups)

    def expected_workers(self) -> dict[str, set[str]]:
        """Node name → queues, for every worker group on every worker host."""
        return {
            f"{group['name']}@{host}": set(group["queues"])
            for group in self.worker_groups
            for host in self.worker_hosts
        }

    def units_of(self, host: str) -> tuple[str, ...]:
        return hosts.units_of(self.groups_of(host), self.worker_groups)

    def main_pids(self) -> dict[tuple[str, str], int]:
        """(host, unit) → the main PID of every unit the inventory implies: a drill compares two
        readings to tell which units a run restarted."""
        return {
            (host, unit): hosts.main_pid(host, unit)
            for host in self.every_host
            for unit in self.units_of(host)
        }

    @property
    def secrets_dir(self) -> Path:
        """<inventory folder>/.secrets, where the lab generates every password."""
        folder = self.inventory if self.inventory.is_dir() else self.inventory.parent
        return folder / ".secrets"

    @property
    def ca_file(self) -> Path:
        """The lab CA's certificate on the controller (the pki role creates it there)."""
        return self.secrets_dir / "tls" / "ca.crt"

    @property
    def tls(self) -> bool:
        """Whether Redis speaks TLS only (matchbot_tls, or redis_tls in a role's scenario)."""
        host = self.redis_host
        return self.var(host, "matchbot_tls") is True or self.var(host, "redis_tls") is True

    def redis_cli(
        self, host: str, port: int, user: str | None, address: str = "127.0.0.1"
    ) -> RedisCli:
        """redis-cli on a Redis host as `user` with its generated password, over TLS when
        the inventory turns it on."""
        password = self.secret(f"redis-{user}") if user else None
        return RedisCli(host, port, user, password, address, tls=self.tls)

    def secret(self, name: str) -> str:
        """A password generated on the controller (first token of its file)."""
        return (self.secrets_dir / name).read_text().split()[0]

    @property
    def api_token(self) -> str:
        """The task API token of the lab's client (inventories/lab: matchbot_api_tokens)."""
        return self.secret("api-operator")

    @property
    def web_scheme(self) -> str:
        """https when TLS is on (nginx in front of the backend and Flower), else http."""
        return "https" if self.tls else "http"

    @property
    def http(self) -> Client:
        """HTTP to the backend and Flower, verifying HTTPS against the lab CA."""
        return Client(self.ca_file if self.tls else None)

    def backend_url(self, path: str) -> str:
        """The backend's URL for `path` (/health-check/…, /tasks/…) on the app host."""
        return f"{self.web_scheme}://{self.address(self.app_host)}:8000{path}"

    def health(self, check: str) -> tuple[int, str]:
        """The backend's detailed health report (`redis` or `celery`), asked with the lab
        client's token: (status, body)."""
        return self.http.get(self.backend_url(f"/health-check/{check}"), token=self.api_token)

    def flower_url(self, path: str) -> str:
        """Flower's URL for `path` on the app host."""
        return f"{self.web_scheme}://{self.address(self.app_host)}:5555{path}"

    def all_secrets(self) -> list[str]:
        """Every secret the lab generated for the inventory: Redis's ACL users (and those of
        high availability), the Flower login, the task API's tokens; with TLS, key material:
        the CA key's lines and the PEM marker of any private key."""
        found = [
            self.secret(path.name) for path in sorted(self.secrets_dir.iterdir()) if path.is_file()
        ]
        ca_key = self.secrets_dir / "tls" / "ca.key"
        if ca_key.is_file():
            lines = ca_key.read_text().splitlines()
            found += [line for line in lines if not line.startswith("-----")]
            found.append(KEY_MARKER)
        return found
