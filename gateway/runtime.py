"""What a running gateway works with: the consortium, member clients, registry, ledger.

A ``Runtime`` is built from a loaded configuration and replaced as a whole on reload
(SIGHUP): requests read the current one when they start, so a reload never changes the
rules under a request in flight.  Member clients whose settings did not change are
carried over with their warm connection pools; the others are new.

A member whose adapter is not available in this build (NCIP, until it lands) gets an
``UnreachableIls``: every call fails with ``IlsUnavailable`` and a reason, so kiosks
get the ordinary "cannot be reached" refusal and the log says why.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from adapters.errors import IlsUnavailable
from adapters.ils.base import (
    MemberIls,
)
from adapters.ils.sip2 import Sip2MemberIls
from adapters.ledger.base import Ledger
from adapters.state.base import StateBackend, patron_key
from config.consortium import Consortium

from .pinguard import PinGuard

if TYPE_CHECKING:
    from datetime import datetime

    from adapters.ils.base import (
        CheckinOutcome,
        CirculationOutcome,
        ItemRecord,
        PatronRecord,
    )
    from config.errors import KeyPath
    from config.models import GatewaySettings

__all__ = ["Runtime", "UnreachableIls", "build_runtime"]

log = structlog.get_logger("interlend.runtime")


class UnreachableIls:
    """A member the gateway cannot talk to in this build; every call says why."""

    def __init__(self, member: str, reason: str) -> None:
        self.member = member
        self.reason = reason

    def _fail(self) -> IlsUnavailable:
        return IlsUnavailable(self.member, self.reason)

    async def patron_status(self, patron: str, pin: str | None, *, timeout: float) -> PatronRecord:
        """Fails: the member is unreachable."""
        raise self._fail()

    async def checkout(
        self, patron: str, item: str, *, due: datetime | None, timeout: float
    ) -> CirculationOutcome:
        """Fails: the member is unreachable."""
        raise self._fail()

    async def renew(self, patron: str, item: str, *, timeout: float) -> CirculationOutcome:
        """Fails: the member is unreachable."""
        raise self._fail()

    async def checkin(self, item: str, location: str, *, timeout: float) -> CheckinOutcome:
        """Fails: the member is unreachable."""
        raise self._fail()

    async def item_information(self, item: str, *, timeout: float) -> ItemRecord:
        """Fails: the member is unreachable."""
        raise self._fail()


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
        elif ils.adapter == "sip2":
            members[member] = Sip2MemberIls(member, ils, password)
        else:
            reason = f"the {ils.adapter} adapter is not available in this build"
            log.error("member ILS cannot be reached", member=member, reason=reason)
            members[member] = UnreachableIls(member, reason)
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
    return Runtime(
        consortium,
        members,
        store,
        ledger,
        patron_secret,
        signatures,
        secrets_found.get(("gateway", "state", "password")),
        previous.pin_guard if previous is not None else PinGuard(),
    )
