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
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .currency import check_currency
from .identity import BarcodePattern
from .secrets import parse_password_hash

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

__all__ = [
    "AdminListener",
    "CharsetName",
    "CirculationPolicy",
    "Config",
    "CostItem",
    "CostSettings",
    "CostStep",
    "Default",
    "DialectSettings",
    "DueDateMode",
    "ErrorDetectionMode",
    "Formula",
    "IlsAdapter",
    "IlsSettings",
    "IlsTlsSettings",
    "JointCollection",
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
    "Retention",
    "SecretRef",
    "Section",
    "SizeBreak",
    "Terminal",
    "TerminatorName",
    "TierCost",
    "TlsSettings",
    "TlsVersionName",
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


class IlsTlsSettings(Section):
    """How the gateway reaches a library's ILS over TLS (``tls://`` SIP2 endpoints,
    ``https://`` NCIP ones): what it trusts, the name it expects, and the client
    certificate it presents where the ILS asks for one (paths only)."""

    ca: Annotated[Path | None, Merge.NEEDS_PRECEDENCE, Default(None, "the system's")] = Field(
        None,
        description="CA certificates (PEM) the ILS's certificate must be signed by "
        "(unset: the system's trust store)",
    )
    server_name: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None, "the host")] = Field(
        None,
        min_length=1,
        description="the name the ILS's certificate must carry, sent as SNI "
        "(unset: each endpoint's host)",
    )
    cert: Annotated[Path | None, Merge.NEEDS_PRECEDENCE, Default(None, "none")] = Field(
        None,
        description="a client certificate (PEM) the gateway presents to the ILS, with key",
    )
    key: Annotated[Path | None, Merge.NEEDS_PRECEDENCE, Default(None, "none")] = Field(
        None, description="the client certificate's private key (PEM, not encrypted)"
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
    tls: IlsTlsSettings = IlsTlsSettings()


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


def _patterns(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        BarcodePattern.parse(value)
    return values


Formula = Literal[
    "equal",
    "proportional",
    "base-plus-drivers",
    "usage-ewma",
    "net-lender",
    "per-transaction",
    "airport",
    "shapley",
    "shares",
]
"""How a cost or pool is split (``docs/cost-sharing.md`` has a worked example of each)."""

_FORMULA_NEEDS: dict[str, frozenset[str]] = {
    "equal": frozenset({"amount"}),
    "proportional": frozenset({"amount", "driver"}),
    "base-plus-drivers": frozenset({"amount", "base", "weights"}),
    "usage-ewma": frozenset({"amount"}),
    "net-lender": frozenset({"amount"}),
    "per-transaction": frozenset({"price"}),
    "airport": frozenset({"tiers"}),
    "shapley": frozenset({"steps", "driver"}),
    "shares": frozenset({"amount"}),
}
_FORMULA_MAY: dict[str, frozenset[str]] = {
    "base-plus-drivers": frozenset({"breaks"}),
    "usage-ewma": frozenset({"ewma_weight"}),
    "net-lender": frozenset({"net_share"}),
    "per-transaction": frozenset({"maximum", "prices"}),
}
_BOUNDS = frozenset({"floor", "cap"})
"""Caps and floors apply to the formulas that split a charge (not to credits or to
per-transaction charges, which follow the loans)."""
_CHARGES = frozenset({"equal", "proportional", "base-plus-drivers", "usage-ewma", "shares"})
_OPTIONAL = frozenset({"name", "formula", "among"})


class SizeBreak(Frozen):
    """A size break: a driver value below ``below`` counts as ``use``."""

    below: Decimal = Field(gt=0)
    use: Decimal = Field(ge=0)


class TierCost(Frozen):
    """One tier of a tiered infrastructure cost: the whole cost of providing it."""

    name: str = Field(min_length=1)
    cost: Decimal = Field(ge=0, description="the whole cost of this tier, in major units")


class CostStep(Frozen):
    """One step of a capacity cost: serving up to ``up_to`` of a driver costs ``cost``."""

    up_to: Decimal = Field(gt=0)
    cost: Decimal = Field(ge=0, description="in major units")


class CostItem(Frozen):
    """One cost the libraries share, or one pool they are credited from.

    Which keys a formula reads (each is required or refused accordingly):

    * ``equal``, ``usage-ewma`` (``ewma_weight``), ``shares`` (a jointly owned
      collection's own costs, by ownership share): ``amount``;
    * ``proportional``: ``amount``, ``driver``;
    * ``base-plus-drivers``: ``amount``, ``base``, ``weights`` (summing to 1 with
      ``base``), optional ``breaks``;
    * ``net-lender`` (a credit pool): ``amount``, optional ``net_share``;
    * ``per-transaction``: ``price``, optional ``maximum`` and ``prices`` per lender;
    * ``airport``: ``tiers`` (each library's ``cost.tier`` names the tier it needs);
    * ``shapley``: ``steps`` and ``driver``.

    ``floor`` and ``cap`` bound each library's share of the charges split by
    ``equal``, ``proportional``, ``base-plus-drivers``, ``usage-ewma`` and ``shares``.
    """

    name: str = Field(min_length=1, description="the cost's name on statements and invoices")
    formula: Formula = Field(description="how the cost is split")
    amount: Decimal | None = Field(None, ge=0, description="the total, in major units")
    driver: str | None = Field(
        None, min_length=1, description="a library figure (cost.drivers) or usage figure"
    )
    base: Decimal | None = Field(None, ge=0, le=1, description="part split equally")
    weights: dict[str, Decimal] | None = Field(None, description="each driver's part")
    breaks: dict[str, SizeBreak] | None = Field(None, description="size breaks per driver")
    floor: Decimal | None = Field(None, ge=0, description="the least one library pays")
    cap: Decimal | None = Field(None, ge=0, description="the most one library pays")
    ewma_weight: Decimal | None = Field(
        None, gt=0, le=1, description="weight of the current period in the moving average"
    )
    net_share: Decimal | None = Field(
        None, ge=0, le=1, description="part of the pool credited by net lending (default 0.5)"
    )
    price: Decimal | None = Field(None, ge=0, description="charge per loan, in major units")
    prices: dict[str, Decimal] | None = Field(None, description="a lender's own price per loan")
    maximum: Decimal | None = Field(None, ge=0, description="the most one loan is charged")
    tiers: tuple[TierCost, ...] | None = Field(
        None, min_length=1, description="tiers, smallest first"
    )
    steps: tuple[CostStep, ...] | None = Field(None, min_length=1, description="capacity steps")
    among: tuple[str, ...] | None = Field(
        None, description="the nodes whose libraries share it (default: all of the consortium's)"
    )

    @model_validator(mode="after")
    def _keys_of_formula(self) -> CostItem:
        needs = _FORMULA_NEEDS[self.formula]
        may = needs | _FORMULA_MAY.get(self.formula, frozenset())
        if self.formula in _CHARGES:
            may |= _BOUNDS
        given = {name for name in type(self).model_fields if getattr(self, name) is not None}
        missing = sorted(needs - given)
        if missing:
            raise ValueError(
                f"cost {self.name!r}: formula {self.formula} needs {', '.join(missing)}"
            )
        unused = sorted(given - may - _OPTIONAL)
        if unused:
            raise ValueError(
                f"cost {self.name!r}: formula {self.formula} does not use {', '.join(unused)}"
            )
        if self.weights is not None and self.base is not None:
            whole = self.base + sum(self.weights.values(), Decimal(0))
            if whole != 1:
                raise ValueError(f"cost {self.name!r}: base and weights sum to {whole}, not to 1")
        if self.breaks is not None and self.weights is not None:
            stray = sorted(set(self.breaks) - set(self.weights))
            if stray:
                raise ValueError(
                    f"cost {self.name!r}: breaks for {', '.join(stray)}, which has no weight"
                )
        if self.floor is not None and self.cap is not None and self.cap < self.floor:
            raise ValueError(f"cost {self.name!r}: the cap is below the floor")
        if self.tiers is not None:
            names = [tier.name for tier in self.tiers]
            if len(set(names)) != len(names):
                raise ValueError(f"cost {self.name!r}: a tier is named twice")
            costs = [tier.cost for tier in self.tiers]
            if costs != sorted(costs):
                raise ValueError(f"cost {self.name!r}: tiers go from the cheapest to the dearest")
        if self.steps is not None:
            limits = [step.up_to for step in self.steps]
            if limits != sorted(set(limits)):
                raise ValueError(f"cost {self.name!r}: steps go from the smallest up_to up")
        return self


def _currency(value: str | None) -> str | None:
    if value is not None:
        check_currency(value)
    return value


class CostSettings(Section):
    """Inputs of cost sharing: the costs and pools (set at a consortium), and each
    library's figures (set at the library, or above it for a whole group)."""

    size: Annotated[float | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, ge=0, description="size measure for cost sharing (e.g. registered patrons)"
    )
    tier: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="cost-sharing tier"
    )
    currency: Annotated[str | None, Merge.NEEDS_PRECEDENCE, Default("USD")] = Field(
        None, description="ISO 4217 code of every amount"
    )
    costs: Annotated[tuple[CostItem, ...] | None, Merge.NEEDS_PRECEDENCE, Default(())] = Field(
        None, description="the costs and pools shared among the libraries below this node"
    )
    drivers: Annotated[dict[str, Decimal] | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="the library's figures for the formulas (patrons, fte, titles…)"
    )
    usage_history: Annotated[tuple[Decimal, ...] | None, Merge.NEEDS_PRECEDENCE, Default(())] = (
        Field(None, description="the library's usage in past periods, oldest first (usage-ewma)")
    )
    member_from: Annotated[date | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="the first day the library is a member (joined mid-period: prorated)"
    )
    member_until: Annotated[date | None, Merge.NEEDS_PRECEDENCE, Default(None)] = Field(
        None, description="the last day the library is a member (left mid-period: prorated)"
    )

    _check_currency = field_validator("currency")(_currency)

    @field_validator("drivers")
    @classmethod
    def _figures(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        if value is not None and any(figure < 0 for figure in value.values()):
            raise ValueError("a figure cannot be negative")
        return value

    @field_validator("usage_history")
    @classmethod
    def _history(cls, value: tuple[Decimal, ...] | None) -> tuple[Decimal, ...] | None:
        if value is not None and any(figure < 0 for figure in value):
            raise ValueError("a past period's usage cannot be negative")
        return value


Retention = Literal["none", "last-copy"]
"""A jointly owned collection's retention commitment: ``last-copy`` items are kept in
the consortium (not lent beyond it, not withdrawn)."""


class JointCollection(Frozen):
    """A collection owned by several libraries (a shared print repository, a
    co-purchased set), declared at a consortium or hybrid node."""

    name: str = Field(min_length=1)
    held_by: str = Field(min_length=1, description="the library whose ILS holds the items")
    items: tuple[str, ...] = Field(min_length=1, description="item barcode rules of the collection")
    owners: dict[str, Decimal] = Field(
        min_length=1, description="each co-owning library's share; the shares sum to 1"
    )
    retention: Retention = Field("none", description="the collection's retention commitment")
    costs: tuple[CostItem, ...] = Field(
        (), description="the collection's own costs (purchase, storage), split among its owners"
    )

    _check_patterns = field_validator("items")(_patterns)

    @field_validator("owners")
    @classmethod
    def _shares(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if any(share <= 0 for share in value.values()):
            raise ValueError("each owner's share is more than 0")
        whole = sum(value.values(), Decimal(0))
        if whole != 1:
            raise ValueError(f"the owners' shares sum to {whole}, not to 1")
        return value


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
    collections: dict[str, JointCollection] = Field(
        {}, description="jointly owned collections (at a consortium or hybrid node)"
    )
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


TlsVersionName = Literal["1.2", "1.3"]
"""The oldest TLS version a listener accepts (``min_version``)."""


class TlsSettings(Frozen):
    """TLS on a listener (SIP2, NCIP or admin): a certificate and key (PEM files), and
    optionally the CA that signs the clients' certificates.

    Only paths are configured, never key material; the files are read at start, by
    ``check-config`` and again on SIGHUP (new connections get the new certificate).
    A key file must not be encrypted (protect it by its permissions).  Relative paths
    are taken from the gateway's working directory.
    """

    cert: Path = Field(description="the certificate (PEM), followed by its chain")
    key: Path = Field(description="the certificate's private key (PEM, not encrypted)")
    client_ca: Path | None = Field(
        None, description="CA certificates (PEM) that sign the clients' certificates"
    )
    require_client_cert: bool | None = Field(
        None,
        description="refuse clients without a certificate signed by client_ca (unset: "
        "required whenever client_ca is set; false: checked only when one is presented)",
    )
    min_version: TlsVersionName = Field("1.2", description="the oldest TLS version accepted")
    handshake_timeout_s: float = Field(
        10.0,
        gt=0,
        description="close a connection whose TLS handshake has not finished after this long",
    )

    @model_validator(mode="after")
    def _client_ca_for_required(self) -> TlsSettings:
        if self.require_client_cert and self.client_ca is None:
            raise ValueError(
                "require_client_cert needs client_ca: the CA (PEM) that signs the "
                "clients' certificates"
            )
        return self

    @property
    def requires_client_cert(self) -> bool:
        """Whether a client without a certificate is refused."""
        return self.client_ca is not None and self.require_client_cert is not False


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
    """The HTTP port where resource-sharing systems post NCIP (``POST /ncip``);
    HTTPS with ``tls``."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body: int = Field(1 << 20, ge=1024, description="largest NCIP message accepted, in bytes")
    tls: TlsSettings | None = None


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
    """The admin HTTP port (health, readiness, metrics, status page, API); HTTPS with
    ``tls``.

    With ``tokens``, every route but ``/healthz`` and ``/readyz`` asks for
    ``Authorization: Bearer <token>`` with one of them.  Off loopback they are
    required: an admin port anyone on the network can read is refused at load.
    """

    host: str = "127.0.0.1"
    port: int = Field(9090, ge=0, le=65535)
    tls: TlsSettings | None = None
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
    client: Literal["auto", "coredis", "resp"] = Field(
        "auto",
        description=(
            "the client for the registry's scripts: resp (interlend's small hiredis client, "
            "about a fifth of coredis's CPU per command; one plain Redis only), coredis, or auto "
            "(resp for a redis:// URL with no query options, coredis for cluster, sentinels "
            "and rediss://)"
        ),
    )

    @model_validator(mode="after")
    def _one_topology(self) -> StateSettings:
        if self.cluster and self.sentinels:
            raise ValueError("state: choose cluster or sentinels, not both")
        if self.client == "resp":
            if self.cluster or self.sentinels:
                raise ValueError(
                    'state.client = "resp" speaks to one plain Redis: use "coredis" (or '
                    '"auto") with cluster or sentinels'
                )
            parts = urlsplit(self.url)
            if parts.scheme not in ("redis", "rediss") or parts.query:
                raise ValueError(
                    f'state.client = "resp" takes a redis:// or rediss:// URL without query '
                    f"options (it reads none); {self.url.split('@')[-1]!r} needs "
                    '"coredis" (or "auto")'
                )
        for address in self.sentinels:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"state.sentinels: {address!r} is not host:port")
        return self

    def script_client(self) -> tuple[Literal["coredis", "resp"], str]:
        """The client the registry's scripts go through, and why (for the start log).

        ``auto`` takes resp wherever it behaves as coredis would on the same settings:
        one plain Redis over TCP.  It keeps coredis for a Cluster or Sentinels (resp
        follows no redirections and asks no Sentinel), for ``rediss://`` (coredis
        checks the server's certificate but not its host name, and reads its TLS
        options, a private CA among them, from the URL's query; resp checks the host
        name against the system's trust store, so a working TLS deployment could stop
        at an upgrade), and for a URL with query options (resp reads none).
        """
        if self.client != "auto":
            return self.client, "chosen in the configuration"
        if self.cluster:
            return "coredis", "a Redis Cluster"
        if self.sentinels:
            return "coredis", "Redis found through Sentinels"
        parts = urlsplit(self.url)
        if parts.scheme == "rediss":
            return "coredis", "rediss:// (coredis's TLS checks, options from the URL's query)"
        if parts.scheme != "redis" or parts.query:
            return "coredis", "the URL carries options only coredis reads"
        return "resp", "one plain Redis"


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
    library_keys: dict[str, SecretRef] = Field(
        default_factory=dict,
        description="the signing keys of the libraries that delegate to this gateway, by "
        "library code (each the library's own member key on chain, for settlement rounds)",
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

    @field_validator("library_keys")
    @classmethod
    def _library_codes(cls, value: dict[str, SecretRef]) -> dict[str, SecretRef]:
        for code in value:
            if not code or len(code.encode()) > 32 or "\x00" in code:
                raise ValueError(f"a library code is 1 to 32 bytes of UTF-8: {code!r}")
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
    exact body, which holds the send time too (``sent_at``), so a receiver can check both
    and refuse replays (``adapters/billing/webhook.py``, docs/reports.md).
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
