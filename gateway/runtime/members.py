"""Member handles: each member library's ILS client with its capabilities resolved once.

A member's ``ils.adapter`` chooses its client (``Sip2MemberIls`` or ``NcipMemberIls``).
Beyond the neutral ``MemberIls`` calls every flow may make, a client may offer
capabilities (``adapters/ils/base.py``): forwarding a kiosk's SIP2 message as it is,
holds, temporary item records, a supervised life in the daemon.  They are found here,
when the members are built, and kept as typed fields of the handle (``None`` where the
client has not got one); no request ever probes a client for a method.

``build_members`` reuses the previous handle of every member whose settings (and ILS
password, and the files its ``ils.tls`` names) did not change, so a reload keeps
warm connection pools.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.ils.base import (
    Balanced,
    Holds,
    ItemRecords,
    MemberIls,
    Sip2Forwarding,
    Supervised,
)
from adapters.ils.ncip import NcipMemberIls
from adapters.ils.sip2 import Sip2MemberIls

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from config.consortium import Consortium
    from config.errors import KeyPath

__all__ = ["MemberHandle", "build_members", "handle"]


@dataclass(frozen=True)
class MemberHandle:
    """One member library as the gateway's flows reach it.

    Attributes:
        id: The member's node id.
        ils: Its ILS client (the neutral calls).
        forwarding: The client, when it takes kiosks' SIP2 messages as they are.
        holds: The client, when it places holds for the gateway.
        item_records: The client, when it creates temporary items (NCIP AcceptItem).
        supervised: The client, when it runs health checks in the daemon.
        balanced: The client, when it balances over endpoints with breakers.
        signature: What the client was built from (settings, a hash of the secret, the
            state of its TLS files), to tell on reload whether it can be kept.
    """

    id: str
    ils: MemberIls
    forwarding: Sip2Forwarding | None
    holds: Holds | None
    item_records: ItemRecords | None
    supervised: Supervised | None
    balanced: Balanced | None
    signature: tuple[object, ...]


def handle(member: str, client: MemberIls, signature: tuple[object, ...]) -> MemberHandle:
    """The handle of ``client``, its capabilities resolved (once)."""
    return MemberHandle(
        member,
        client,
        client if isinstance(client, Sip2Forwarding) else None,
        client if isinstance(client, Holds) else None,
        client if isinstance(client, ItemRecords) else None,
        client if isinstance(client, Supervised) else None,
        client if isinstance(client, Balanced) else None,
        signature,
    )


def _secret_for(
    consortium: Consortium, secrets_found: Mapping[KeyPath, str], member: str
) -> str | None:
    source = consortium.effective[member]["ils.password"].source
    if source is None:
        return None
    return secrets_found.get(("nodes", source, "ils", "password"))


def _files_state(public: tuple[Path | None, ...], key: Path | None) -> tuple[str, ...]:
    """What tells whether the files a client reads once (``ils.tls``) changed: a digest
    of each certificate file's content, and the key file's inode, size and modification
    time (a key is not read here).  Empty for a file unset or unreadable: the client
    reports the file itself."""
    state: list[str] = []
    for path in public:
        try:
            state.append(hashlib.sha256(path.read_bytes()).hexdigest() if path else "")
        except OSError:
            state.append("")
    try:
        found = key.stat() if key is not None else None
    except OSError:
        found = None
    state.append("" if found is None else f"{found.st_ino}:{found.st_size}:{found.st_mtime_ns}")
    return tuple(state)


def build_members(
    consortium: Consortium,
    secrets_found: Mapping[KeyPath, str],
    previous: Mapping[str, MemberHandle] | None = None,
) -> dict[str, MemberHandle]:
    """A handle per member library, reusing ``previous`` ones whose settings are unchanged."""
    members: dict[str, MemberHandle] = {}
    for member in consortium.libraries:
        ils = consortium.policy(member).ils
        password = _secret_for(consortium, secrets_found, member)
        signature = (
            ils,
            hashlib.sha256((password or "").encode()).hexdigest(),
            _files_state((ils.tls.ca, ils.tls.cert), ils.tls.key),
        )
        kept = previous.get(member) if previous is not None else None
        if kept is not None and kept.signature == signature:
            members[member] = kept
            continue
        client: MemberIls = (
            NcipMemberIls(member, ils, password)
            if ils.adapter == "ncip"
            else Sip2MemberIls(member, ils, password)
        )
        members[member] = handle(member, client, signature)
    return members


def ils_secret(
    consortium: Consortium, secrets_found: Mapping[KeyPath, str], member: str
) -> str | None:
    """The member's ``ils.password``, read from the node that sets it or passes it down
    (for commands that reach one member's ILS themselves, such as ``probe-ils``)."""
    return _secret_for(consortium, secrets_found, member)
