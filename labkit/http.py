"""HTTP from the controller to the lab hosts (the backend, Flower)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any


def request(
    method: str,
    url: str,
    *,
    auth: tuple[str, str] | None = None,
    token: str | None = None,
    body: Any = None,
    timeout: float = 30,
) -> tuple[int, str]:
    """One request, with HTTP basic credentials or a bearer token and a JSON body;
    (status, body), also for error statuses; (0, the reason) when nothing answered (a
    service restarting refuses connections)."""
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
        with urllib.request.urlopen(call, timeout=timeout) as response:  # noqa: S310
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
