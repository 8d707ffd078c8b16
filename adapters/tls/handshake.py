"""The server side of a TLS handshake under a time limit, and why a handshake failed.

``accept_tls(stream, tls)`` wraps an accepted connection in ``trio.SSLStream`` with
the listener's certificate in force and completes the handshake within the listener's
``handshake_timeout_s``: a client that connects and says nothing holds its socket for
that long, not until the idle time-out.  A failure is a ``HandshakeFailed`` whose
``kind`` is one of a few fixed words (a metric label) and whose ``detail`` is
OpenSSL's reason (a log field).

``failure_reason(exc)`` puts OpenSSL's reason for a failed handshake in words, for
both sides: the listener's log line and a member ILS's error ("certificate verify
failed: unable to get local issuer certificate").
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from adapters.tls.contexts import ServerTls

__all__ = ["HANDSHAKE_FAILURES", "HandshakeFailed", "accept_tls", "failure_reason"]

HANDSHAKE_FAILURES = (
    "timeout",
    "no_client_certificate",
    "client_certificate_refused",
    "certificate_refused_by_client",
    "not_tls",
    "protocol_version",
    "closed",
    "other",
)
"""The kinds of failed handshakes (``HandshakeFailed.kind``)."""

_KINDS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "no_client_certificate",
    "CERTIFICATE_VERIFY_FAILED": "client_certificate_refused",
    # Alerts the client sent: it does not trust the listener's certificate.
    "TLSV1_ALERT_UNKNOWN_CA": "certificate_refused_by_client",
    "SSLV3_ALERT_BAD_CERTIFICATE": "certificate_refused_by_client",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "certificate_refused_by_client",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "certificate_refused_by_client",
    "WRONG_VERSION_NUMBER": "not_tls",
    "HTTP_REQUEST": "not_tls",
    "UNSUPPORTED_PROTOCOL": "protocol_version",
    "TLSV1_ALERT_PROTOCOL_VERSION": "protocol_version",
    "NO_PROTOCOLS_AVAILABLE": "protocol_version",
}


class HandshakeFailed(Exception):
    """A client's TLS handshake did not complete.

    Args:
        kind: One of ``HANDSHAKE_FAILURES``.
        detail: What happened, in words.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def failure_reason(exc: BaseException) -> str:
    """Why a handshake failed, in words, from the exception trio raised (its cause is
    OpenSSL's error) or the ``ssl`` exception itself."""
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLEOFError | trio.BrokenResourceError) or cause is None:
        return "the peer closed the connection during the handshake"
    if isinstance(cause, ssl.SSLError) and cause.reason:
        return str(cause.reason).lower().replace("_", " ")
    return str(cause) or type(cause).__name__


def _kind(exc: BaseException) -> str:
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
    if isinstance(cause, ssl.SSLError) and not isinstance(cause, ssl.SSLEOFError):
        return _KINDS.get(cause.reason or "", "other")
    return "closed"  # an end of file or a reset before the handshake was done


async def accept_tls(stream: trio.abc.Stream, tls: ServerTls) -> trio.SSLStream[trio.abc.Stream]:
    """``stream`` (just accepted) over TLS, its handshake done.

    Raises:
        HandshakeFailed: The handshake failed or took longer than the listener allows;
            ``stream`` is left to the caller to close.
    """
    secure = trio.SSLStream(stream, tls.current, server_side=True)
    with trio.move_on_after(tls.settings.handshake_timeout_s) as limit:
        try:
            await secure.do_handshake()
        except (trio.BrokenResourceError, OSError) as exc:
            raise HandshakeFailed(_kind(exc), failure_reason(exc)) from None
    if limit.cancelled_caught:
        raise HandshakeFailed(
            "timeout", f"no handshake within {tls.settings.handshake_timeout_s:g}s"
        )
    return secure
