"""The rules in force: a frozen view of the configuration, swapped as a whole on reload.

``Rules`` holds what decides how a request is served and nothing live: the consortium
(its graph, effective policies, terminals, barcode rules), the gateway's settings, the
NCIP peers with their secrets resolved, and the key that turns patron barcodes into
keyed hashes.  A request takes the rules in force when it starts and keeps them to its
end, so a reload never changes the rules under a request in flight.

``StartSecrets`` are the secrets read once at start and never swapped: the state
store's password, the ledger's signing key and record key (the stores and the chain
worker they open live as long as the process; a reload that changes them is logged as
taking effect at the next restart).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from adapters.state.base import patron_key
from config.consortium import Consortium
from protocols.ncip import Style

if TYPE_CHECKING:
    from config.errors import KeyPath
    from config.models import GatewaySettings, NcipPeer
    from config.resolved import ResolvedPolicy

__all__ = [
    "RECORD_KEY_LABEL",
    "Peer",
    "Rules",
    "StartSecrets",
    "build_rules",
    "derived_record_key",
    "start_secrets",
]

log = structlog.get_logger("interlend.rules")

RECORD_KEY_LABEL = b"interlend ledger record key v1"


@dataclass(frozen=True)
class Peer:
    """A resource-sharing system allowed to call over NCIP, and the library it acts for.

    Attributes:
        agency: Its ``FromAgencyId``.
        member: The library it acts for.
        api_key: Its API key (``X-API-Key`` or ``FromAgencyAuthentication``), if any.
        bearer_token: Its bearer token, if any.
        style: How answers are written for it (prefix, dates).
    """

    agency: str
    member: str
    api_key: str | None
    bearer_token: str | None
    style: Style


@dataclass(frozen=True)
class Rules:
    """The configuration in force (see the module documentation).

    Attributes:
        consortium: The consortium: graph, effective policies, terminals, barcodes.
        peers: The NCIP peers by their agency id, case-folded.
        patron_secret: The key of the hashes that stand for patrons.
    """

    consortium: Consortium
    peers: Mapping[str, Peer]
    patron_secret: bytes

    @property
    def settings(self) -> GatewaySettings:
        """The gateway section of the configuration."""
        return self.consortium.config.gateway

    def policy(self, member: str) -> ResolvedPolicy:
        """A member's effective settings."""
        return self.consortium.policy(member)

    def patron_key(self, home: str, barcode: str) -> str:
        """The keyed hash that stands for a patron of ``home``."""
        return patron_key(self.patron_secret, home, barcode)

    def name(self, member: str) -> str:
        """A library's display name."""
        return self.consortium.nodes[member].name

    def known(self, member: str) -> bool:
        """Whether ``member`` is a node of the consortium."""
        return member in self.consortium.nodes

    def institution_id(self, member: str) -> str:
        """The AO a member's ILS expects (its configured one, else the member id)."""
        return self.consortium.policy(member).ils.institution_id or member


def _style(peer: NcipPeer) -> Style:
    return Style(prefix=None if peer.prefix_free else "ns1", date_only=peer.date_only)


def _peers(consortium: Consortium, secrets_found: Mapping[KeyPath, str]) -> dict[str, Peer]:
    found: dict[str, Peer] = {}
    for node_id, node in consortium.nodes.items():
        for index, peer in enumerate(node.ncip_peers):
            path = ("nodes", node_id, "ncip_peers", index)
            found[peer.agency_id.casefold()] = Peer(
                peer.agency_id,
                node_id,
                secrets_found.get((*path, "api_key")),
                secrets_found.get((*path, "bearer_token")),
                _style(peer),
            )
    return found


def build_rules(
    consortium: Consortium,
    secrets_found: Mapping[KeyPath, str],
    previous: Rules | None = None,
) -> Rules:
    """The rules of a loaded configuration.

    Without ``gateway.patron_key_secret`` the patron key is random: kept across reloads
    of this process, new at every start (a warning says so).
    """
    secret_text = secrets_found.get(("gateway", "patron_key_secret"))
    if secret_text is not None:
        patron_secret = secret_text.encode()
    elif previous is not None:
        patron_secret = previous.patron_secret
    else:
        patron_secret = secrets.token_bytes(32)
        log.warning(
            "gateway.patron_key_secret is not set: patron keys change at every start",
            hint="set it for a registry that outlives the process",
        )
    return Rules(consortium, _peers(consortium, secrets_found), patron_secret)


@dataclass(frozen=True)
class StartSecrets:
    """Secrets read once at start (see the module documentation)."""

    state_password: str | None
    ledger_key: str | None
    record_key: bytes


def derived_record_key(patron_secret: bytes) -> bytes:
    """The record key used when ``gateway.ledger.record_key`` is not set."""
    return hmac.new(patron_secret, RECORD_KEY_LABEL, hashlib.sha256).digest()


def start_secrets(rules: Rules, secrets_found: Mapping[KeyPath, str]) -> StartSecrets:
    """The start-only secrets of a loaded configuration."""
    configured = secrets_found.get(("gateway", "ledger", "record_key"))
    if configured is not None:
        record_key = configured.encode()
    else:
        if rules.settings.ledger.backend != "none":
            log.warning(
                "gateway.ledger.record_key is not set: ledger records are keyed with a key "
                "derived from patron_key_secret",
                hint="set it (the same on every gateway) so that proofs outlive a change of "
                "the patron key",
            )
        record_key = derived_record_key(rules.patron_secret)
    return StartSecrets(
        secrets_found.get(("gateway", "state", "password")),
        secrets_found.get(("gateway", "ledger", "key")),
        record_key,
    )
