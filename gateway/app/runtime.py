"""What a running gateway works with: the consortium, member clients, registry, ledger.

A ``Runtime`` is built from a loaded configuration and replaced as a whole on reload
(SIGHUP): requests read the current one when they start, so a reload never changes the
rules under a request in flight.  Member clients whose settings did not change are
carried over with their warm connection pools; the others are new.  A member's
``ils.adapter`` chooses its client: ``Sip2MemberIls`` or ``NcipMemberIls``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from adapters.ils.base import (
    MemberIls,
)
from adapters.ils.ncip import NcipMemberIls
from adapters.ils.sip2 import Sip2MemberIls
from adapters.ledger.base import Ledger
from adapters.state.base import StateBackend, patron_key
from config.consortium import Consortium
from gateway.network.lenders import LendingCounters
from gateway.runtime.pinguard import PinGuard

if TYPE_CHECKING:
    from config.errors import KeyPath
    from config.models import GatewaySettings

__all__ = ["Runtime", "build_runtime"]

log = structlog.get_logger("interlend.runtime")


@dataclass
class Runtime:
    """Everything requests need, swapped as a whole on reload."""

    consortium: Consortium
    members: dict[str, MemberIls]
    store: StateBackend
    ledger: Ledger
    patron_secret: bytes
    signatures: dict[str, object] = field(default_factory=dict)
    state_password: str | None = None
    """The state store's password (read when the store is opened at start)."""
    pin_guard: PinGuard = field(default_factory=PinGuard)
    """Wrong-PIN counting (kept across reloads)."""
    ncip_secrets: dict[tuple[str, int, str], str] = field(default_factory=dict)
    """NCIP peers' API keys and tokens by (node, peer index, name)."""
    ledger_key: str | None = None
    """The gateway's signing key for the ledger's chain (hex), if configured."""
    record_key: bytes = b""
    """The consortium's HMAC key for ledger records (shared by its gateways)."""

    lending_counters: LendingCounters = field(default_factory=LendingCounters)
    """Loans between members, for lender selection (kept across reloads)."""

    def ncip_secret(self, node: str, index: int, name: str) -> str | None:
        """An NCIP peer's ``api_key`` or ``bearer_token``, if configured."""
        return self.ncip_secrets.get((node, index, name))

    @property
    def settings(self) -> GatewaySettings:
        """The gateway section of the configuration."""
        return self.consortium.config.gateway

    def patron_key(self, home: str, barcode: str) -> str:
        """The keyed hash that stands for a patron."""
        return patron_key(self.patron_secret, home, barcode)

    def name(self, member: str) -> str:
        """A library's display name."""
        return self.consortium.nodes[member].name

    def institution_id(self, member: str) -> str:
        """The AO a member's ILS expects (its configured one, else the member id)."""
        return self.consortium.policy(member).ils.institution_id or member


def _secret_for(
    consortium: Consortium, secrets_found: dict[KeyPath, str], member: str
) -> str | None:
    source = consortium.effective[member]["ils.password"].source
    if source is None:
        return None
    return secrets_found.get(("nodes", source, "ils", "password"))


def build_runtime(
    consortium: Consortium,
    secrets_found: dict[KeyPath, str],
    *,
    store: StateBackend,
    ledger: Ledger,
    previous: Runtime | None = None,
) -> Runtime:
    """Make the runtime for a configuration, reusing unchanged member clients."""
    members: dict[str, MemberIls] = {}
    signatures: dict[str, object] = {}
    for member in consortium.libraries:
        ils = consortium.policy(member).ils
        password = _secret_for(consortium, secrets_found, member)
        signature = (ils, hashlib.sha256((password or "").encode()).hexdigest())
        signatures[member] = signature
        if previous is not None and previous.signatures.get(member) == signature:
            members[member] = previous.members[member]
        elif ils.adapter == "ncip":
            members[member] = NcipMemberIls(member, ils, password)
        else:
            members[member] = Sip2MemberIls(member, ils, password)
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
    record_key = _record_key(consortium, secrets_found, patron_secret, previous)
    return Runtime(
        consortium,
        members,
        store,
        ledger,
        patron_secret,
        signatures,
        secrets_found.get(("gateway", "state", "password")),
        previous.pin_guard if previous is not None else PinGuard(),
        {
            (str(path[1]), int(path[3]), str(path[4])): value
            for path, value in secrets_found.items()
            if len(path) == 5 and path[0] == "nodes" and path[2] == "ncip_peers"
        },
        ledger_key=secrets_found.get(("gateway", "ledger", "key")),
        record_key=record_key,
        lending_counters=previous.lending_counters if previous is not None else LendingCounters(),
    )


RECORD_KEY_LABEL = b"interlend ledger record key v1"


def derived_record_key(patron_secret: bytes) -> bytes:
    """The record key used when ``gateway.ledger.record_key`` is not set."""
    return hmac.new(patron_secret, RECORD_KEY_LABEL, hashlib.sha256).digest()


def _record_key(
    consortium: Consortium,
    secrets_found: dict[KeyPath, str],
    patron_secret: bytes,
    previous: Runtime | None,
) -> bytes:
    configured = secrets_found.get(("gateway", "ledger", "record_key"))
    if configured is not None:
        return configured.encode()
    settings = consortium.config.gateway
    if previous is None and settings.ledger.backend != "none":
        log.warning(
            "gateway.ledger.record_key is not set: ledger records are keyed with a key "
            "derived from patron_key_secret",
            hint="set it (the same on every gateway) so that proofs outlive a change of "
            "the patron key",
        )
    return derived_record_key(patron_secret)
