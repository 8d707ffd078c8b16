"""POST a signed document to a receiver's webhook, retrying with back-off.

The receiver checks who sent it and that it is whole with the signature header,
``X-Interlend-Signature: sha256=<hex>``: the HMAC-SHA256 of the exact body bytes
under the shared secret (compare in constant time: :func:`verify`).  The send time is
in ``X-Interlend-Timestamp`` (Unix seconds); callers also put it inside the body, so
it is covered by the signature and a receiver can refuse an old delivery replayed.

Each attempt has its own time limit.  A connection failure, a time-out, a 408, a 429
or a 5xx is tried again after ``Backoff``'s delay, up to ``attempts`` tries; any other
4xx is the receiver refusing the document, which a retry would not change, so it
fails at once; so does a redirect, which is not followed (the document is for the
receiver configured: a moved one is a configuration to fix).  Every try sends the
same bytes with the same signature: the receiver can de-duplicate by the delivery id in
the body.  The secret is never logged, nor the URL's credentials (a user and password,
or a query such as ``?token=…``): logs and messages show ``shown_url``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import structlog
import trio

if TYPE_CHECKING:
    from adapters.backoff import Backoff

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivered",
    "WebhookFailed",
    "post_signed",
    "shown_url",
    "sign",
    "verify",
]

log = structlog.get_logger("interlend.webhook")

SIGNATURE_HEADER = "X-Interlend-Signature"
TIMESTAMP_HEADER = "X-Interlend-Timestamp"
_RETRIED = frozenset({408, 425, 429})


def shown_url(url: str) -> str:
    """``url`` as logs and messages show it: without a user, a password or a query,
    where receivers put credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


@dataclass(frozen=True)
class Delivered:
    """The receiver took the document: its status and the tries it took."""

    status: int
    attempts: int


class WebhookFailed(Exception):
    """The document was not delivered; the message says why (never the secret).

    Attributes:
        attempts: How many tries were made.
        retryable: The last failure was one a later run may get past (down, slow, 5xx).
    """

    def __init__(self, message: str, *, attempts: int, retryable: bool) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.retryable = retryable


async def _attempt(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> tuple[int | None, str]:
    """One POST within ``timeout_s``: the status, or ``None`` and what went wrong."""
    with trio.move_on_after(timeout_s) as scope:
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, f"no answer within {timeout_s:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, f"HTTP {response.status_code}"
    assert scope.cancelled_caught
    return None, f"no answer within {timeout_s:g} s"


async def post_signed(
    url: str,
    body: bytes,
    *,
    secret: bytes,
    timestamp: int,
    attempts: int,
    timeout_s: float,
    backoff: Backoff,
    content_type: str = "application/json",
) -> Delivered:
    """POST ``body`` to ``url`` until a 2xx answers, at most ``attempts`` times.

    Raises:
        WebhookFailed: Every try failed, or the receiver refused the document (4xx).
    """
    headers = {
        "Content-Type": content_type,
        SIGNATURE_HEADER: sign(secret, body),
        TIMESTAMP_HEADER: str(timestamp),
        "User-Agent": "interlend-webhook",
    }
    reason = ""
    shown = shown_url(url)
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
        for attempt in range(1, attempts + 1):
            status, reason = await _attempt(client, url, body, headers, timeout_s)
            if status is not None and 200 <= status < 300:
                log.info("webhook delivered", url=shown, status=status, attempt=attempt)
                return Delivered(status, attempt)
            if status is not None and 300 <= status < 500 and status not in _RETRIED:
                log.error("webhook refused", url=shown, status=status, attempt=attempt)
                raise WebhookFailed(
                    f"{shown} refused the document ({reason})", attempts=attempt, retryable=False
                )
            if attempt < attempts:
                delay = backoff.next_delay()
                log.warning(
                    "webhook attempt failed",
                    url=shown,
                    attempt=attempt,
                    reason=reason,
                    retry_in_s=delay,
                )
                await trio.sleep(delay)
    log.error("webhook not delivered", url=shown, attempts=attempts, reason=reason)
    raise WebhookFailed(
        f"{shown} did not take the document after {attempts} tries (last: {reason})",
        attempts=attempts,
        retryable=True,
    )
