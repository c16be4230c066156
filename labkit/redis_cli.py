"""redis-cli on a lab host, as one ACL user (the password travels in REDISCLI_AUTH), over TLS
verifying the server against the CA when the inventory turns TLS on."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from labkit import hosts

BROKER_PORT = 6379
CACHE_PORT = 6380
FILL_VALUE_BYTES = 100 * 1024
# The CA certificate on a Redis host (the redis role's redis_tls_dir).
HOST_CA_FILE = "/etc/redis/tls/ca.crt"


@dataclass(frozen=True)
class RedisCli:
    """redis-cli on `container` against `port` (on `address`, loopback by default); with
    `tls`, over TLS verifying the server against the host's CA certificate."""

    container: str
    port: int
    user: str | None
    password: str | None = None
    address: str = "127.0.0.1"
    tls: bool = False

    def _command(self, *args: str, options: tuple[str, ...] = ()) -> str:
        cli = ["redis-cli", "--no-auth-warning", "-h", self.address, "-p", str(self.port)]
        if self.tls:
            cli += ["--tls", "--cacert", HOST_CA_FILE]
        if self.user is not None:
            cli += ["--user", self.user]
        return shlex.join([*cli, *options, *args])

    def _secrets(self) -> dict[str, str]:
        return {"REDISCLI_AUTH": self.password} if self.password else {}

    def run(self, *args: str) -> str:
        """Output of one command, errors included as text (redis-cli prints them)."""
        result = hosts.run(self.container, self._command(*args), secrets=self._secrets())
        return (result.stdout + result.stderr).decode(errors="replace").strip()

    def info(self, section: str) -> dict[str, str]:
        fields = {}
        for line in self.run("INFO", section).splitlines():
            key, sep, value = line.strip().partition(":")
            if sep:
                fields[key] = value
        return fields

    def answers(self) -> bool:
        return self.run("PING") == "PONG"

    def fill(self, db: int, prefix: str, megabytes: int) -> str:
        """Write `megabytes` of 100 KiB values into database `db` in one `redis-cli --pipe`;
        its summary (`errors: 0` when every write was accepted)."""
        protocol = b"".join(fill_protocol(db, prefix, megabytes * 10))
        result = hosts.run(
            self.container,
            self._command(options=("--pipe",)),
            secrets=self._secrets(),
            stdin=protocol,
        )
        return (result.stdout + result.stderr).decode(errors="replace").strip()


def command(*parts: str) -> bytes:
    """One command in the Redis protocol (RESP)."""
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in encoded
    )


def fill_protocol(db: int, prefix: str, values: int) -> Iterator[bytes]:
    yield command("SELECT", str(db))
    value = "x" * FILL_VALUE_BYTES
    for index in range(values):
        yield command("SET", f"{prefix}:{index}", value)
