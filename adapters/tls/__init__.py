"""TLS for the gateway's listeners and its connections to member ILSs.

* ``contexts``: SSL contexts built from the configuration (server and client), each
  file problem turned into a ``TlsFileError`` that names the setting, and
  ``ServerTls``, a listener's reloadable certificate (SIGHUP).
* ``checks``: the configuration's TLS files checked at ``check-config`` and at start,
  as located ``ConfigIssue``s.
* ``handshake``: the server side of a handshake under a time limit, and the reason a
  handshake failed in words fit for a log line or a member error.

Only paths are configured; no key material is ever logged or kept beyond the contexts.
"""

from adapters.tls.checks import tls_issues
from adapters.tls.contexts import (
    CertificateInfo,
    ServerTls,
    TlsFileError,
    client_context,
    server_context,
)
from adapters.tls.handshake import HANDSHAKE_FAILURES, HandshakeFailed, accept_tls, failure_reason

__all__ = [
    "HANDSHAKE_FAILURES",
    "CertificateInfo",
    "HandshakeFailed",
    "ServerTls",
    "TlsFileError",
    "accept_tls",
    "client_context",
    "failure_reason",
    "server_context",
    "tls_issues",
]
