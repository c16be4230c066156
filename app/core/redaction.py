"""Keep passwords and full Redis URLs out of logs, errors and HTTP responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# scheme://[user[:password]@]host... : keep the scheme and host, drop the credentials.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<auth>[^@/\s]*@)", re.I)
MASK = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Text with URL credentials and every known secret replaced by ***."""
    cleaned = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, MASK)
    return cleaned


def describe_url(url: str) -> str:
    """A URL as an operator may see it: scheme, host, port and path, never credentials."""
    return redact(url)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message so that no secret reaches a log handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info), self._secrets)
            record.exc_info = None
        return True
