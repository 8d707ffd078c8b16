"""The configuration of a consortium, as frozen pydantic models.

Every model forbids unknown keys: a misspelt key is an error with a hint, never a
silently ignored setting.

Inheritable settings live in four sections that any node may set: ``circulation``
(what visitors may do), ``ils`` (how to reach the library's system), ``lending``
(load-balancing inputs) and ``cost`` (cost-sharing inputs).  In a section every field
is optional: ``None`` means "not set here, inherit".  Each field declares

* ``Merge``: how conflicting values from several parents are reconciled when no
  membership precedence decides (the most restrictive value for limits and
  privileges; ``Merge.NEEDS_PRECEDENCE`` for operational settings, where guessing
  would be wrong), and
* ``Default``: the value when no node sets it.

``policy_keys()`` lists the leaf settings with those rules, by dotted name
(``circulation.loan_cap_per_owner``, ``ils.dialect.charset``).  What the gateway reads
is not these sections but ``config.resolved``: each node's settings after inheritance,
every default applied, typed without ``None`` wherever a setting always has a value.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .identity import BarcodePattern
from .secrets import parse_password_hash

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

__all__ = [
    "AdminListener",
    "CharsetName",
    "CirculationPolicy",
    "Config",
    "CostSettings",
    "Default",
    "DialectSettings",
    "DueDateMode",
    "ErrorDetectionMode",
    "IlsAdapter",
    "IlsSettings",
    "KeySpec",
    "LedgerSettings",
    "LendingSettings",
    "LimitSettings",
    "Membership",
    "Merge",
    "NcipAuth",
    "NcipPeer",
    "NcipSettings",
    "Node",
    "NodeKind",
    "SecretRef",
    "Section",
    "Terminal",
    "TerminatorName",
    "default_of",
    "is_loopback",
    "policy_keys",
]

NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Merge(enum.Enum):
    """How values from several parents are reconciled when precedence does not decide."""

    MIN = "the smallest value"
    ANY = "true if any parent says true"
    INTERSECT = "only what every parent allows"
    UNION = "everything any parent excludes"
    NEEDS_PRECEDENCE = "no rule: declare membership precedence"


@dataclass(frozen=True)
class Default:
    """The value of a setting that no node sets, and what ``None`` means for it."""

    value: object
    none_means: str = "none"


CharsetName = Literal["cp850", "latin-1", "utf-8", "ascii"]
"""The character sets a SIP2 peer may write (``ils.dialect.charset``)."""
TerminatorName = Literal["CR", "CRLF"]
"""What ends a SIP2 frame (``ils.dialect.terminator``)."""
ErrorDetectionMode = Literal["off", "auto", "required"]
"""AY/AZ sequence numbers and checksums (``ils.dialect.error_detection``)."""
DueDateMode = Literal["ils", "no-block"]
"""How a member ILS learns a visitor's due date (``ils.dialect.due_date``)."""
NcipAuth = Literal["none", "api-key", "bearer", "agency"]
"""How the gateway proves who it is to an NCIP ILS (``ils.ncip.auth``)."""
IlsAdapter = Literal["sip2", "ncip"]
"""The protocol spoken to a library's ILS (``ils.adapter``)."""


class Frozen(BaseModel):
    """Immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Section(Frozen):
    """A group of inheritable settings; every field is optional (``None``: inherit)."""


class SecretRef(Frozen):
    """Where a secret comes from: ``{ env = "NAME" }`` or ``{ file = "/path" }``."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def __str__(self) -> str:
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"


def _zone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


class DialectSettings(Section):
    """How the library's SIP2 server writes SIP2 (see ``protocols.sip2.Dialect``)."""

    charset: Annotated[CharsetName | None, Merge.NEEDS_PRECEDENCE, Default("cp850")] = Field(
        None, description="character set of the SIP2 bytes"
    )
    delimiter: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default("|")] = Field(
        None, min_length=1, max_length=1, description="field delimiter"
    )
    terminator: Annotated[TerminatorName | None, Merge.NEEDS_PRECEDENCE, Default("CR")] = Field(
        None, description="what ends the frames the gateway sends"
    )
    strict: Annotated[bool | None, Merge.NEEDS_PRECEDENCE, Default(False)] = Field(
        None, description="parse the 2.00 text literally instead of leniently"
    )
    timezone: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default("UTC")] = Field(
        None, description="time zone of the server's local-time dates"
    )
    utc_dates: Annotated[bool | None, Merge.NEEDS_PRECEDENCE, Default(False)] = Field(
        None, description="send dates in UTC with the Z indicator"
    )
    transliterate: Annotated[bool | None, Merge.NEEDS_PRECEDENCE, Default(False)] = Field(
        None, description="spell characters the charset lacks instead of refusing them"
    )
    error_detection: Annotated[
        ErrorDetectionMode | None, Merge.NEEDS_PRECEDENCE, Default("auto")
    ] = Field(None, description="AY/AZ sequence numbers and checksums")
    max_field_length: Annotated[int | None, Merge.NEEDS_PRECEDENCE, Default(255)] = Field(
        None, ge=1, description="longest variable field sent"
    )
    due_date: Annotated[DueDateMode | None, Merge.NEEDS_PRECEDENCE, Default("ils")] = Field(
        None,
        description="how a member ILS learns a visitor's due date: 'ils' (it applies its "
        "own loan period; the gateway tells the kiosk and records the date it answers) or "
        "'no-block' (checkouts and renewals are sent as no-block transactions whose "
        "nb_due_date, the consortium's date, the ILS applies)",
    )

    _check_zone = field_validator("timezone")(_zone)


class NcipSettings(Section):
    """How the gateway speaks NCIP to a library's ILS (``ils.adapter = "ncip"``).

    The secret for ``auth`` is ``ils.password``: an API key, a bearer token, or the
    ``FromAgencyAuthentication`` value.
    """

    from_agency: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default("interlend")] = Field(
        None, min_length=1, description="FromAgencyId the gateway sends"
    )
    to_agency: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None, "the member id")] = (
        Field(None, min_length=1, description="ToAgencyId the ILS expects")
    )
    application_profile: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="ApplicationProfileType (Alma: the partner code)"
    )
    auth: Annotated[NcipAuth | None, Merge.NEEDS_PRECEDENCE, Default("none")] = Field(
        None, description="how the gateway proves who it is, with ils.password"
    )
    api_key_header: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default("X-API-Key")] = Field(
        None, min_length=1, description="the header an API key travels in"
    )
    prefix_free: Annotated[bool | None, Merge.NEEDS_PRECEDENCE, Default(False)] = Field(
        None, description="default namespace, unqualified attributes (Koha style)"
    )
    date_only: Annotated[bool | None, Merge.NEEDS_PRECEDENCE, Default(False)] = Field(
        None, description="write dates as YYYY-MM-DD"
    )
    accept_item: Annotated[bool | None, Merge.NEEDS_PRECEDENCE, Default(False)] = Field(
        None,
        description="as a home library, take a temporary item (AcceptItem) for each "
        "reciprocal loan so it shows in the patron's own account",
    )


class IlsSettings(Section):
    """How the gateway reaches a library's ILS."""

    adapter: Annotated[IlsAdapter | None, Merge.NEEDS_PRECEDENCE, Default("sip2")] = Field(
        None, description="protocol spoken to the ILS"
    )
    endpoints: Annotated[tuple[str, ...] | None, Merge.NEEDS_PRECEDENCE, Default(())] = Field(
        None, description="SIP2 host:port (tls://host:port for TLS) or NCIP URLs"
    )
    login: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="SIP2 login user id (CN) of the gateway's account"
    )
    password: Annotated[SecretRef | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="SIP2 login password (CO), from env or file"
    )
    location: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="SIP2 location code (CP) sent at login"
    )
    institution_id: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="institution id (AO) the ILS expects"
    )
    timeout_s: Annotated[float | None, Merge.NEEDS_PRECEDENCE, Default(10.0)] = Field(
        None, gt=0, description="seconds allowed for one request"
    )
    connect_timeout_s: Annotated[float | None, Merge.NEEDS_PRECEDENCE, Default(5.0)] = Field(
        None, gt=0, description="seconds allowed to connect and log in"
    )
    concurrency: Annotated[int | None, Merge.NEEDS_PRECEDENCE, Default(8)] = Field(
        None, ge=1, description="requests in flight to this ILS at most (bulkhead)"
    )
    pool_size: Annotated[int | None, Merge.NEEDS_PRECEDENCE, Default(2)] = Field(
        None, ge=1, description="persistent logged-in connections per endpoint"
    )
    dialect: DialectSettings = DialectSettings()
    ncip: NcipSettings = NcipSettings()


class CirculationPolicy(Section):
    """What visiting patrons may do at a library, and how it treats them."""

    lend_to: Annotated[
        tuple[str, ...] | None,
        Merge.INTERSECT,
        Default(None, "every library sharing a consortium"),
    ] = Field(
        None,
        description="nodes whose libraries' patrons may borrow here "
        "(unset: every library sharing a consortium with this one)",
    )
    reciprocal_only: Annotated[bool | None, Merge.ANY, Default(False)] = Field(
        None, description="lend only to libraries that lend to this one"
    )
    patron_types: Annotated[tuple[str, ...] | None, Merge.INTERSECT, Default(None, "all")] = Field(
        None, description="visitor patron types allowed (unset: all)"
    )
    loan_cap_per_owner: Annotated[int | None, Merge.MIN, Default(None, "no limit")] = Field(
        None, ge=0, description="reciprocal loans one visitor may hold from this library"
    )
    visitor_loan_quota: Annotated[int | None, Merge.MIN, Default(None, "no limit")] = Field(
        None,
        ge=0,
        description="the most items this library has out to visitors (all homes) at once",
    )
    loan_cap_total: Annotated[int | None, Merge.MIN, Default(None, "no limit")] = Field(
        None, ge=0, description="reciprocal loans a patron of this library may hold in all"
    )
    visitor_loan_days: Annotated[int | None, Merge.MIN, Default(21)] = Field(
        None, ge=1, description="loan period for visitors, in days"
    )
    visitor_renewals: Annotated[int | None, Merge.MIN, Default(1)] = Field(
        None, ge=0, description="renewals allowed to visitors"
    )
    block_fines_over: Annotated[Decimal | None, Merge.MIN, Default(None, "no limit")] = Field(
        None, ge=0, description="refuse visitors owing more than this at home"
    )
    block_expired: Annotated[bool | None, Merge.ANY, Default(True)] = Field(
        None, description="refuse visitors whose card has expired"
    )
    require_pin: Annotated[bool | None, Merge.ANY, Default(True)] = Field(
        None, description="lend to visitors only after their PIN was checked at home"
    )
    non_circulating_item_types: Annotated[tuple[str, ...] | None, Merge.UNION, Default(())] = Field(
        None, description="item types (SIP2 media types or ILS codes) not lent to visitors"
    )
    non_circulating_locations: Annotated[tuple[str, ...] | None, Merge.UNION, Default(())] = Field(
        None, description="locations whose items are not lent to visitors"
    )
    proxy_patron_template: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="proxy account at this library for a home library: '{home}' is replaced"
    )
    proxy_patrons: Annotated[dict[str, str] | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="proxy account at this library, per home library"
    )

    @field_validator("proxy_patron_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and "{home}" not in value:
            raise ValueError("the template must contain {home}")
        return value


class LendingSettings(Section):
    """Inputs of lender selection (load balancing)."""

    goal_ratio: Annotated[float | None, Merge.NEEDS_PRECEDENCE, Default(1.0)] = Field(
        None, gt=0, description="loans this library aims to make per loan it receives"
    )
    capacity_per_day: Annotated[
        int | None, Merge.NEEDS_PRECEDENCE, Default(None, "not declared")
    ] = Field(None, ge=0, description="requests this library can fill per day")


class CostSettings(Section):
    """Inputs of cost sharing."""

    size: Annotated[float | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, ge=0, description="size measure for cost sharing (e.g. registered patrons)"
    )
    tier: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="cost-sharing tier"
    )


NodeKind = Literal["consortium", "hybrid", "pass_through", "member", "non_client"]
LIBRARY_KINDS = frozenset({"member", "non_client"})
GROUP_KINDS = frozenset({"consortium", "hybrid", "pass_through"})


class Membership(Frozen):
    """A node's membership of a parent, with an optional precedence (1 is strongest)."""

    parent: str
    precedence: int | None = Field(None, ge=0)


class Terminal(Frozen):
    """A SIP2 terminal (kiosk or desk) that logs in to the gateway as this library."""

    login: str = Field(min_length=1)
    password_hash: str
    location: str | None = None
    staff: bool = Field(
        False,
        description="a staff desk: may list a patron's loans (63) without the patron's PIN",
    )

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        parse_password_hash(value)
        return value


class NcipPeer(Frozen):
    """A system that sends NCIP requests to the gateway on behalf of this library."""

    agency_id: str = Field(min_length=1)
    api_key: SecretRef | None = None
    bearer_token: SecretRef | None = None
    prefix_free: bool = Field(False, description="answer with a default namespace (Koha style)")
    date_only: bool = Field(False, description="write dates as YYYY-MM-DD")


def _patterns(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        BarcodePattern.parse(value)
    return values


class Node(Frozen):
    """One node of the consortium graph: a consortium, a grouping or a library."""

    kind: NodeKind
    name: str = Field(min_length=1)
    memberships: tuple[Membership, ...] = ()
    lock: tuple[str, ...] = ()
    circulation: CirculationPolicy = CirculationPolicy()
    ils: IlsSettings = IlsSettings()
    lending: LendingSettings = LendingSettings()
    cost: CostSettings = CostSettings()
    patrons: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    institution_ids: tuple[str, ...] = ()
    terminals: tuple[Terminal, ...] = ()
    ncip_peers: tuple[NcipPeer, ...] = ()

    @field_validator("memberships", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """Accept ``memberships = ["metro"]`` as well as ``[{ parent = "metro" }]``."""
        if isinstance(value, list | tuple):
            return [{"parent": v} if isinstance(v, str) else v for v in value]
        return value

    _check_patterns = field_validator("patrons", "items")(_patterns)


class TlsSettings(Frozen):
    """A certificate and key for a TLS listener (PEM files)."""

    cert: Path
    key: Path
    client_ca: Path | None = Field(
        None, description="require kiosks to present a certificate signed by this CA"
    )


class Sip2Listener(Frozen):
    """A port where kiosks connect over SIP2."""

    host: str = "127.0.0.1"
    port: int = Field(6001, ge=0, le=65535)
    tls: TlsSettings | None = None
    dialect: DialectSettings = DialectSettings()
    member: str | None = Field(
        None, description="the library kiosks on this port act for when they do not log in"
    )


class NcipListener(Frozen):
    """The HTTP port where resource-sharing systems post NCIP (``POST /ncip``)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body: int = Field(1 << 20, ge=1024, description="largest NCIP message accepted, in bytes")


def is_loopback(host: str) -> bool:
    """Whether a listener's host is the loopback interface only (``localhost``,
    127.0.0.0/8, ``::1``); a name or any other address may be reached from outside."""
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class AdminListener(Frozen):
    """The admin HTTP port (health, readiness, metrics, status page, API).

    With ``tokens``, every route but ``/healthz`` and ``/readyz`` asks for
    ``Authorization: Bearer <token>`` with one of them.  Off loopback they are
    required: an admin port anyone on the network can read is refused at load.
    """

    host: str = "127.0.0.1"
    port: int = Field(9090, ge=0, le=65535)
    tokens: tuple[SecretRef, ...] = Field(
        (),
        description="bearer tokens, from env or file, that open every route but /healthz "
        "and /readyz (required when host is not loopback; each at least 16 characters)",
    )

    @model_validator(mode="after")
    def _protected_off_loopback(self) -> AdminListener:
        if not self.tokens and not is_loopback(self.host):
            raise ValueError(
                f"the admin port listens on {self.host!r}, beyond loopback, so it needs "
                'bearer tokens: tokens = [{ env = "NAME" }] (or { file = "/path" }), or '
                'host = "127.0.0.1"'
            )
        return self


class StateSettings(Frozen):
    """Where the loan registry, the ledger outbox and the throttles live.

    ``memory`` keeps them in the process (the embedded default: lost at exit, one
    gateway only).  ``redis`` shares them between every gateway of the consortium and
    keeps them across restarts; the operator must turn on Redis's append-only file
    (``appendonly yes``) for a loan acknowledged to a kiosk to survive a Redis crash.
    """

    backend: Literal["memory", "redis"] = "memory"
    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis:// or rediss:// URL (for a cluster: any node; unused with sentinels)",
    )
    cluster: bool = Field(False, description="the URL names a node of a Redis Cluster")
    sentinels: tuple[str, ...] = Field(
        (), description="host:port of each Sentinel; the primary is found through them"
    )
    service_name: str = Field("interlend", description="the Sentinel service of the primary")
    password: SecretRef | None = None
    namespace: str = Field(
        "interlend",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="prefix of every key (one consortium per namespace)",
    )
    timeout_s: float = Field(2.0, gt=0, description="the longest a Redis call may take")
    hold_ttl_s: float = Field(
        300.0, gt=0, description="how long a slot held for a checkout counts against the caps"
    )
    history: int | None = Field(
        None,
        ge=0,
        description="loans kept for reports (default: 10,000 in memory, 1,000,000 in Redis)",
    )
    require_aof: bool = Field(
        False, description="refuse to start when Redis's append-only file is off (else a warning)"
    )

    @model_validator(mode="after")
    def _one_topology(self) -> StateSettings:
        if self.cluster and self.sentinels:
            raise ValueError("state: choose cluster or sentinels, not both")
        for address in self.sentinels:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"state.sentinels: {address!r} is not host:port")
        return self


ETH_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class LedgerSettings(Frozen):
    """Where verified loans are anchored (``[gateway.ledger]``).

    ``embedded`` runs an in-process EVM (web3's eth-tester) deployed at start, with
    the gateway's own member admitted: the demo default, nothing to set up, nothing
    kept at exit.  ``evm`` anchors on a real chain through JSON-RPC (``rpc_url``,
    ``contract``, and the gateway's signing ``key``).  ``none`` keeps no ledger: loan
    events are handed to an in-memory queue and dropped from the outbox.
    """

    backend: Literal["none", "embedded", "evm"] = "embedded"
    rpc_url: str | None = Field(None, description="the chain node's JSON-RPC URL (evm)")
    chain_id: int | None = Field(None, ge=1, description="refuse a node serving another chain")
    contract: str | None = Field(None, description="the InterlendRegistry's address (evm)")
    deploy_block: int = Field(0, ge=0, description="the contract's deployment block")
    member_id: str | None = Field(
        None,
        min_length=1,
        description="the member whose chain this gateway anchors (default: the member its "
        "key is the gateway of; embedded: gateway.institution_id)",
    )
    key: SecretRef | None = Field(
        None, description="the gateway's signing key, hex (required for evm)"
    )
    record_key: SecretRef | None = Field(
        None,
        description="HMAC key of the loan records, shared by every gateway of the consortium "
        "(default: derived from patron_key_secret)",
    )
    batch_size: int = Field(1000, ge=1, le=100_000, description="events per anchor at most")
    batch_interval_s: float = Field(
        300.0, gt=0, description="anchor a partial batch once its first event is this old"
    )
    confirmations: int = Field(1, ge=1, description="blocks deep an anchor must be to count")
    gas_ceiling: int = Field(200_000, ge=21_000, description="most gas one anchor may use")
    timeout_s: float = Field(
        60.0, gt=0, description="longest wait for an anchor to be mined and confirmed"
    )

    @field_validator("contract")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not ETH_ADDRESS.fullmatch(value):
            raise ValueError("the contract address is 0x and 40 hex digits")
        return value

    @field_validator("member_id")
    @classmethod
    def _member(cls, value: str | None) -> str | None:
        if value is not None and (len(value.encode()) > 32 or "\x00" in value):
            raise ValueError("a member id is at most 32 bytes of UTF-8, without NUL")
        return value

    @model_validator(mode="after")
    def _evm_needs(self) -> LedgerSettings:
        if self.backend == "evm":
            missing = [n for n in ("rpc_url", "contract", "key") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"ledger backend evm needs {', '.join(missing)}")
        return self


class HoldingsExport(Frozen):
    """A member's holdings export for discovery (CSV: item, title, isbn, author,
    location, member; see ``gateway/network/discovery.py``)."""

    file: Path
    member: str | None = Field(None, description="the owner, when the file has no member column")


class LimitSettings(Frozen):
    """Limits that keep one kiosk, address or guesser from harming the others
    (``[gateway.limits]``; each is described with its metric in docs/security.md)."""

    login_attempts: int = Field(
        5, ge=1, description="wrong passwords allowed per terminal login within login_window_s"
    )
    login_attempts_per_address: int = Field(
        20, ge=1, description="refused logins allowed per kiosk address within login_window_s"
    )
    login_window_s: float = Field(
        900.0, gt=0, description="how long refused logins count towards the two limits above"
    )
    login_refusal_delay_s: float = Field(
        1.0, ge=0, description="pause before a refused login is answered (slows guessing)"
    )
    max_connections: int = Field(
        4096,
        ge=1,
        description="kiosk connections open at once in all (also kept below the process's "
        "file descriptor limit)",
    )
    max_connections_per_address: int = Field(
        256, ge=1, description="kiosk connections open at once from one address"
    )
    login_timeout_s: float = Field(
        30.0, gt=0, description="close a connection that has not logged in (93) after this long"
    )
    max_bad_frames: int = Field(
        20, ge=1, description="bad frames a logged-in kiosk may send in a row before it is closed"
    )
    max_bad_frames_before_login: int = Field(
        3, ge=1, description="bad frames a connection may send before it has logged in"
    )
    bad_frames_cool_down_s: float = Field(
        10.0,
        ge=0,
        description="after a connection is closed for bad frames, new connections from its "
        "address are closed at once for this long (0: never)",
    )
    logged_bad_frames: int = Field(
        5,
        ge=0,
        description="bad frames logged per kiosk address every 10 s; the others are counted "
        "and the next line logged says how many",
    )


class WebhookSettings(Frozen):
    """Where ``interlend report settlement --webhook`` posts the settlement (JSON).

    Each POST carries ``X-Interlend-Timestamp`` (Unix seconds) and
    ``X-Interlend-Signature: sha256=<hex>``, the HMAC-SHA256 under ``secret`` of the
    timestamp, a full stop and the body, so a receiver can check both and refuse replays.
    """

    url: str = Field(pattern=r"^https?://", description="the receiver's http:// or https:// URL")
    secret: SecretRef = Field(description="the HMAC-SHA256 key the receiver checks with")
    timeout_s: float = Field(10.0, gt=0, description="the longest one attempt may take")
    attempts: int = Field(5, ge=1, le=20, description="tries before giving up")
    backoff_s: float = Field(1.0, gt=0, description="wait after the first failure (then doubled)")
    backoff_cap_s: float = Field(60.0, gt=0, description="the longest wait between two tries")


class ReportSettings(Frozen):
    """Where reports go besides files (``[gateway.reports]``)."""

    webhook: WebhookSettings | None = None


class GatewaySettings(Frozen):
    """How the daemon itself runs (not inherited: one per gateway)."""

    sip2: tuple[Sip2Listener, ...] = (Sip2Listener(),)
    admin: AdminListener | None = AdminListener()
    ncip: NcipListener | None = None
    holdings: tuple[HoldingsExport, ...] = Field(
        (), description="member exports loaded into the discovery index at start and reload"
    )
    institution_id: str = Field("interlend", description="AO the gateway answers 99 with")
    idle_timeout_s: float = Field(900.0, gt=0, description="close kiosk connections idle this long")
    drain_grace_s: float = Field(10.0, ge=0, description="time given to connections at shutdown")
    request_timeout_s: float = Field(
        12.0, gt=0, description="the whole time one kiosk request may take"
    )
    max_frame_size: int = Field(32_768, ge=256, description="longest SIP2 frame accepted")
    login_required: bool = Field(True, description="kiosks must log in (93) before requests")
    patron_key_secret: SecretRef | None = Field(
        None, description="key for the hashes that stand for patrons in the registry and logs"
    )
    state: StateSettings = StateSettings()
    ledger: LedgerSettings = LedgerSettings()
    pin_attempts: int = Field(
        5, ge=1, description="wrong PINs allowed per patron within pin_window_s"
    )
    pin_window_s: float = Field(
        900.0, gt=0, description="how long wrong PINs count towards pin_attempts"
    )
    limits: LimitSettings = LimitSettings()
    reports: ReportSettings = ReportSettings()


class Config(Frozen):
    """A whole configuration file (after its ``include`` files are merged in)."""

    include: tuple[str, ...] = ()
    gateway: GatewaySettings = GatewaySettings()
    nodes: dict[str, Node] = Field(min_length=1)

    @model_validator(mode="after")
    def _listener_members(self) -> Config:
        for index, listener in enumerate(self.gateway.sip2):
            if listener.member is not None and listener.member not in self.nodes:
                raise ValueError(f"gateway.sip2[{index}].member {listener.member!r} is not a node")
            if not self.gateway.login_required and listener.member is None:
                raise ValueError(
                    f"gateway.sip2[{index}] needs a member: without logins a port must say "
                    "which library its kiosks act for"
                )
        return self

    @field_validator("nodes")
    @classmethod
    def _ids(cls, value: dict[str, Node]) -> dict[str, Node]:
        for node_id in value:
            if not NODE_ID.fullmatch(node_id):
                raise ValueError(
                    f"node id {node_id!r} must be letters, digits, '_', '-' or '.', "
                    "starting with a letter or digit"
                )
        return value


SECTIONS: dict[str, type[Section]] = {
    "circulation": CirculationPolicy,
    "ils": IlsSettings,
    "lending": LendingSettings,
    "cost": CostSettings,
}


@dataclass(frozen=True)
class KeySpec:
    """One inheritable setting."""

    key: str
    merge: Merge
    default: object
    none_means: str
    description: str


def default_of(info: FieldInfo) -> Default:
    """The ``Default`` marker of an inheritable setting's field."""
    return next(m for m in info.metadata if isinstance(m, Default))


def _leaves(prefix: str, model: type[Section]) -> list[KeySpec]:
    specs: list[KeySpec] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            specs.extend(_leaves(f"{prefix}.{name}", annotation))
            continue
        merge = next(m for m in info.metadata if isinstance(m, Merge))
        default = default_of(info)
        specs.append(
            KeySpec(
                f"{prefix}.{name}",
                merge,
                default.value,
                default.none_means,
                info.description or "",
            )
        )
    return specs


def policy_keys() -> dict[str, KeySpec]:
    """Every inheritable setting by its dotted key, in declaration order."""
    return {spec.key: spec for name, model in SECTIONS.items() for spec in _leaves(name, model)}
