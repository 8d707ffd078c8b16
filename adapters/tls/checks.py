"""The configuration's TLS files, checked where configuration errors are reported.

``tls_issues(consortium)`` builds every context the configuration asks for (the
listeners' and, per library whose ``ils.tls`` names a file, the client's) and returns
each file problem as a ``ConfigIssue`` at its key (``gateway.sip2[0].tls.key``), so that
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
    seen: set[ConfigIssue] = set()
    for library in consortium.libraries:
        tls = consortium.policy(library).ils.tls
        if tls.ca is None and tls.cert is None and tls.key is None:
            continue
        try:
            client_context(tls.ca, tls.cert, tls.key)
        except TlsFileError as exc:
            # Reported where the setting is written (a parent's, for an inherited one).
            source = consortium.effective[library][f"ils.tls.{exc.setting}"].source
            path = ("nodes", source or library, "ils", "tls", exc.setting)
            issue = ConfigIssue(path, exc.message, exc.hint)
            if issue not in seen:
                seen.add(issue)
                issues.append(issue)
    return issues
