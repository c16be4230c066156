"""HTTP from the controller to the lab hosts (the backend, Flower)."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def request(
    method: str,
    url: str,
    *,
    auth: tuple[str, str] | None = None,
    token: str | None = None,
    body: Any = None,
    timeout: float = 30,
    ca_file: Path | None = None,
) -> tuple[int, str]:
    """One request, with HTTP basic credentials or a bearer token and a JSON body; HTTPS
    verified against `ca_file`; (status, body), also for error statuses; (0, the reason) when
    nothing answered (a service restarting refuses connections) or TLS failed."""
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - lab addresses only
    if data is not None:
        call.add_header("Content-Type", "application/json")
    if auth:
        basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        call.add_header("Authorization", f"Basic {basic}")
    if token is not None:
        call.add_header("Authorization", f"Bearer {token}")
    try:
        context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        with urllib.request.urlopen(call, timeout=timeout, context=context) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except urllib.error.URLError as error:
        return 0, str(error.reason)


def get(
    url: str, auth: tuple[str, str] | None = None, timeout: float = 30, token: str | None = None
) -> tuple[int, str]:
    """GET; (status, body), also for error statuses."""
    return request("GET", url, auth=auth, token=token, timeout=timeout)


def post(url: str, body: Any, token: str | None = None, timeout: float = 30) -> tuple[int, str]:
    """POST a JSON body; (status, body), also for error statuses."""
    return request("POST", url, token=token, body=body, timeout=timeout)


@dataclass(frozen=True)
class Client:
    """HTTP to the lab's services, HTTPS verified against `ca_file` (the lab CA)."""

    ca_file: Path | None = None

    def request(self, method: str, url: str, **options: Any) -> tuple[int, str]:
        return request(method, url, ca_file=self.ca_file, **options)

    def get(
        self,
        url: str,
        auth: tuple[str, str] | None = None,
        timeout: float = 30,
        token: str | None = None,
    ) -> tuple[int, str]:
        return self.request("GET", url, auth=auth, token=token, timeout=timeout)

    def post(
        self, url: str, body: Any, token: str | None = None, timeout: float = 30
    ) -> tuple[int, str]:
        return self.request("POST", url, token=token, body=body, timeout=timeout)
