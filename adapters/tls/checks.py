"""The configuration's TLS files, checked where configuration errors are reported.

``tls_issues(consortium)`` builds every context the configuration asks for (the
listeners' and, per node that sets ``ils.tls.ca``, the client's) and returns each file
problem as a ``ConfigIssue`` at its key (``gateway.sip2[0].tls.key``), so that
``check-config`` and the start of the gateway print it with its file position and a
hint, like any other error.  It is machine-specific, like secrets: ``check-config
--no-secrets`` leaves it out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.tls.contexts import TlsFileError, client_context, server_context
from config.errors import ConfigIssue

if TYPE_CHECKING:
    from collections.abc import Iterator

    from config.consortium import Consortium
    from config.errors import KeyPath
    from config.models import GatewaySettings, TlsSettings

__all__ = ["tls_issues"]


def _listeners(gateway: GatewaySettings) -> Iterator[tuple[KeyPath, TlsSettings]]:
    for index, sip2 in enumerate(gateway.sip2):
        if sip2.tls is not None:
            yield ("gateway", "sip2", index, "tls"), sip2.tls
    if gateway.admin is not None and gateway.admin.tls is not None:
        yield ("gateway", "admin", "tls"), gateway.admin.tls
    if gateway.ncip is not None and gateway.ncip.tls is not None:
        yield ("gateway", "ncip", "tls"), gateway.ncip.tls


def tls_issues(consortium: Consortium) -> list[ConfigIssue]:
    """Every TLS file of the configuration that cannot be used, as issues at its key."""
    issues: list[ConfigIssue] = []
    for path, settings in _listeners(consortium.config.gateway):
        try:
            server_context(settings)
        except TlsFileError as exc:
            issues.append(ConfigIssue((*path, exc.setting), exc.message, exc.hint))
    for node_id, node in consortium.nodes.items():
        if node.ils.tls.ca is None:
            continue
        try:
            client_context(node.ils.tls.ca)
        except TlsFileError as exc:
            issues.append(
                ConfigIssue(("nodes", node_id, "ils", "tls", exc.setting), exc.message, exc.hint)
            )
    return issues
