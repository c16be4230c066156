"""HTTP from the controller to the lab hosts (the backend, Flower)."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request


def get(url: str, auth: tuple[str, str] | None = None, timeout: float = 30) -> tuple[int, str]:
    """GET; (status, body), also for error statuses."""
    request = urllib.request.Request(url)  # noqa: S310 - lab addresses only
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
