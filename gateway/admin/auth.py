"""The admin port's bearer tokens, and which port serves which routes.

One HTTP app serves both the NCIP endpoint and the admin routes, each on its own port
(DESIGN.md "Contracts"): the NCIP port answers ``POST /ncip`` (and ``/healthz``) only,
the admin port everything else, so the port opened to resource-sharing systems never
shows the admin API.

With ``[gateway.admin] tokens`` (bearer tokens from the environment or files, read when
the port starts and never logged), every route of the admin port but ``/healthz`` and
``/readyz`` needs ``Authorization: Bearer <token>`` with one of them, compared in
constant time; anything else is 401 with ``WWW-Authenticate: Bearer``.  ``/metrics``
too: Prometheus sends the token from its scrape configuration
(``authorization: { credentials_file: … }``).  An admin port that listens beyond
loopback must have tokens (the configuration is refused without); on loopback they are
optional, and enforced when given.  The NCIP port is not concerned: its peers prove who
they are per message (``gateway/ncip/peers.py``).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import structlog
from starlette.responses import PlainTextResponse, Response

from config.errors import ConfigError, ConfigIssue
from config.loader import admin_tokens
from config.models import is_loopback

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from config.models import AdminListener

__all__ = ["NCIP_PATHS", "OPEN_PATHS", "bearer_tokens", "for_role"]

log = structlog.get_logger("interlend.admin")

NCIP_PATHS = frozenset({"/ncip", "/healthz"})
"""What the NCIP port serves; the admin port serves everything else."""

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""What the admin port answers without a bearer token: the liveness and readiness probes."""

REALM = 'Bearer realm="interlend-admin"'


def _bearer(scope: Any) -> bytes | None:
    """The credentials of a request's ``Authorization: Bearer …`` header, if it has one."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = bytes(value).strip().partition(b" ")
            return credentials.strip() if scheme.lower() == b"bearer" else None
    return None


def _admitted(given: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Whether ``given`` is one of ``tokens``; every token is compared in constant time,
    so how long it takes says neither how much of one matched nor which one did."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token)
    return matched


def _refusal(scope: Any, tokens: tuple[bytes, ...]) -> Response | None:
    """The 401 for a request without a valid bearer token (``None``: it has one)."""
    given = _bearer(scope)
    if given is not None and _admitted(given, tokens):
        return None
    client = scope.get("client") or ("-", 0)
    log.warning(
        "admin request refused",
        path=scope.get("path", ""),
        client=f"{client[0]}:{client[1]}",
        reason="no bearer token" if given is None else "wrong bearer token",
    )
    challenge = REALM if given is None else f'{REALM}, error="invalid_token"'
    return PlainTextResponse(
        "this route needs Authorization: Bearer <token>\n",
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


def for_role(app: Starlette, role: str, tokens: tuple[bytes, ...] = ()) -> Any:
    """The app as one port serves it: ``ncip`` (the NCIP endpoint and liveness only) or
    ``admin`` (everything but NCIP), so a port opened to resource-sharing systems never
    shows the admin API.  With ``tokens``, the admin port answers only ``OPEN_PATHS``
    without one of them as a bearer token (401 with ``WWW-Authenticate: Bearer``)."""

    async def serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            allowed = path == "/healthz" or (path in NCIP_PATHS) == (role == "ncip")
            if not allowed:
                await PlainTextResponse("not found\n", status_code=404)(scope, receive, send)
                return
            refusal = (
                _refusal(scope, tokens)
                if role == "admin" and tokens and path not in OPEN_PATHS
                else None
            )
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await app(scope, receive, send)

    return serve


def bearer_tokens(listener: AdminListener) -> tuple[bytes, ...]:
    """The admin port's bearer tokens, read now (never logged).

    Raises:
        ConfigError: A token cannot be read or is too short, or the port listens
            beyond loopback without any (a configuration made in code, which skipped
            the check of ``AdminListener``).
    """
    tokens = admin_tokens(listener)
    if not tokens and not is_loopback(listener.host):
        raise ConfigError.of(
            [
                ConfigIssue(
                    ("gateway", "admin", "tokens"),
                    f"the admin port listens on {listener.host!r}, beyond loopback, "
                    "without a bearer token: nothing started",
                )
            ]
        )
    return tuple(token.strip().encode("utf-8", "surrogatepass") for token in tokens)
