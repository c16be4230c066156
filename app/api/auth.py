"""Who may use the task API: clients presenting a bearer token (`Authorization: Bearer …`)
whose SHA-256 digest the clients file lists (API_CLIENTS_FILE, written by the backend role).

The host keeps digests only. Tokens are 40 random letters and digits (~238 bits), so a plain
SHA-256 cannot be reversed by guessing, and a slow password hash would only slow every request.
A missing or wrong token gets the same 401 (no hint of which part was wrong); the refusal is
logged with the request's method, path and peer, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

logger = logging.getLogger(__name__)

CLIENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")
bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class ClientsFileError(ValueError):
    """The clients file has a line that is not `<client> <sha256 hex>`."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiClients:
    """The clients allowed to use the task API: digest of their token → name."""

    by_digest: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> ApiClients:
        """The clients a file lists; none when there is no file (every request refused)."""
        if path is None or not path.exists():
            return cls()
        clients = {}
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2 or not CLIENT_NAME.match(parts[0]) or not DIGEST.match(parts[1]):
                raise ClientsFileError(f"{path}:{number}: expected '<client> <sha256 hex>'")
            clients[parts[1]] = parts[0]
        return cls(clients)

    def identify(self, token: str) -> str | None:
        """The client whose token this is, or None; compares every digest in constant time."""
        presented = digest(token)
        found = None
        for known, name in self.by_digest.items():
            if hmac.compare_digest(known, presented):
                found = name
        return found


def clients_of(request: Request) -> ApiClients:
    clients: ApiClients = request.app.state.clients
    return clients


def optional_client(request: Request, credentials: Credentials) -> str | None:
    """The client a request comes from, or None when it names none (anonymous)."""
    if credentials is None:
        return None
    return clients_of(request).identify(credentials.credentials)


def client(request: Request, credentials: Credentials) -> str:
    """The client a request comes from; 401 otherwise, logged without the token."""
    name = optional_client(request, credentials)
    if name is None:
        peer = request.client.host if request.client else "unknown"
        why = "no bearer token" if credentials is None else "unknown token"
        logger.warning(
            "task API: refused %s %s from %s: %s", request.method, request.url.path, peer, why
        )
        raise HTTPException(
            status_code=401, detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"}
        )
    return name
