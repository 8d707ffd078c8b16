"""Each node's settings after inheritance, every default applied: what the gateway reads.

The sections of ``config.models`` describe what an operator writes, so every field
there is optional (``None``: not set here, inherit).  Once ``config.inheritance`` has
run, every setting of a node has a value (set there, inherited, merged, or its
``Default``); this module gives those values frozen and typed, and callers read
``policy.ils.timeout_s`` (a ``float``) without repeating a default.

Rules:

* **One field per inheritable setting**, under the same dotted name as in
  ``policy_keys()`` (``ils.dialect.charset`` is ``ResolvedPolicy.ils.dialect.charset``),
  with the setting's type, and without ``None`` wherever the setting always has a value.
  A field stays ``X | None`` only where its default is ``None`` and ``None`` means
  something: no limit (``loan_cap_per_owner``), every library (``lend_to``), not set
  (``login``).  ``tests/config/test_resolved.py`` checks both lists against the models,
  so a setting added to a model without its resolved field fails there.
* **Defaults come from one place**, the ``Default`` markers of the models: for a node,
  through ``config.inheritance`` (``ResolvedPolicy.from_keys``); for a section on its
  own, such as a kiosk listener's dialect or a test's ILS settings, ``of(section)``.
* **Built once**: ``build_consortium`` resolves every node as it validates the graph;
  ``Consortium.policy(node)`` hands out the same object every time.
* Where a value came from is not here: ``Consortium.effective`` keeps each value with
  its source and reason (``check-config`` prints them).

A kiosk listener's dialect (``gateway.sip2[].dialect``) is not inherited, and differs
from a member's in one value: a listener that sets no ``max_field_length`` sends fields
of any length (``listener_dialect``), which is why that field is ``int | None``; a
member's ILS always has one (255 unless set).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Self

from pydantic import BaseModel, ConfigDict

from .models import (
    CharsetName,
    CostItem,
    DialectSettings,
    DueDateMode,
    ErrorDetectionMode,
    IlsAdapter,
    NcipAuth,
    SecretRef,
    Section,
    TerminatorName,
    default_of,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ResolvedCirculation",
    "ResolvedCost",
    "ResolvedDialect",
    "ResolvedIls",
    "ResolvedIlsTls",
    "ResolvedLending",
    "ResolvedNcip",
    "ResolvedPolicy",
    "ResolvedSection",
    "listener_dialect",
]


class ResolvedSection(BaseModel):
    """Resolved settings: immutable, every field required, values of exactly their type."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    @classmethod
    def of(cls, section: Section) -> Self:
        """``section`` on its own (not inherited), each setting it leaves unset at its
        default.

        Raises:
            pydantic.ValidationError: ``section`` is not the model this view resolves.
        """
        return cls.model_validate(_filled(section))


def _filled(section: Section) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, default in _defaults(type(section)).items():
        value = getattr(section, name)
        if isinstance(value, Section):
            values[name] = _filled(value)
        else:
            values[name] = default if value is None else value
    return values


@cache
def _defaults(model: type[Section]) -> dict[str, object]:
    """Each field of a section model with its default (``None`` for a nested section,
    which is never unset)."""
    defaults: dict[str, object] = {}
    for name, info in model.model_fields.items():
        nested = isinstance(info.annotation, type) and issubclass(info.annotation, Section)
        defaults[name] = None if nested else default_of(info).value
    return defaults


class ResolvedDialect(ResolvedSection):
    """How a SIP2 peer writes SIP2 (``ils.dialect``; see ``protocols.sip2.Dialect``)."""

    charset: CharsetName
    delimiter: str
    terminator: TerminatorName
    strict: bool
    timezone: str
    utc_dates: bool
    transliterate: bool
    error_detection: ErrorDetectionMode
    max_field_length: int | None
    """``None``: no limit, only ever for a kiosk listener that sets none."""
    due_date: DueDateMode


class ResolvedNcip(ResolvedSection):
    """How the gateway speaks NCIP to a library's ILS (``ils.ncip``)."""

    from_agency: str
    to_agency: str | None
    """``None``: the ILS's ``institution_id``, or else the member's id."""
    application_profile: str | None
    """``None``: no ApplicationProfileType is sent."""
    auth: NcipAuth
    api_key_header: str
    prefix_free: bool
    date_only: bool
    accept_item: bool


class ResolvedIlsTls(ResolvedSection):
    """How the gateway checks a library's ILS over TLS (``ils.tls``)."""

    ca: Path | None
    """``None``: the system's trust store."""
    server_name: str | None
    """``None``: each endpoint's host."""
    cert: Path | None
    """``None`` (and ``key``): no client certificate is presented."""
    key: Path | None


class ResolvedIls(ResolvedSection):
    """How the gateway reaches a library's ILS (``ils``)."""

    adapter: IlsAdapter
    endpoints: tuple[str, ...]
    login: str | None
    """``None``: the gateway does not log in (no 93)."""
    password: SecretRef | None
    location: str | None
    institution_id: str | None
    """``None``: not configured (the SIP2 client sends an empty AO; elsewhere the
    member's id stands for it)."""
    timeout_s: float
    connect_timeout_s: float
    concurrency: int
    pool_size: int
    dialect: ResolvedDialect
    ncip: ResolvedNcip
    tls: ResolvedIlsTls


class ResolvedCirculation(ResolvedSection):
    """What visiting patrons may do at a library (``circulation``)."""

    lend_to: tuple[str, ...] | None
    """``None``: every library sharing a consortium with this one."""
    reciprocal_only: bool
    patron_types: tuple[str, ...] | None
    """``None``: every patron type."""
    loan_cap_per_owner: int | None
    """``None``: no limit (and for the two caps and the quota below)."""
    visitor_loan_quota: int | None
    loan_cap_total: int | None
    visitor_loan_days: int
    visitor_renewals: int
    block_fines_over: Decimal | None
    """``None``: fines never block."""
    block_expired: bool
    require_pin: bool
    non_circulating_item_types: tuple[str, ...]
    non_circulating_locations: tuple[str, ...]
    proxy_patron_template: str | None
    """``None`` (and ``proxy_patrons`` below): no proxy account of that kind."""
    proxy_patrons: dict[str, str] | None


class ResolvedLending(ResolvedSection):
    """Inputs of lender selection (``lending``)."""

    goal_ratio: float
    capacity_per_day: int | None
    """``None``: not declared."""


class ResolvedCost(ResolvedSection):
    """Inputs of cost sharing (``cost``)."""

    size: float | None
    tier: str | None
    """``None`` (and ``size`` above): not declared."""
    currency: str
    costs: tuple[CostItem, ...]
    drivers: dict[str, Decimal] | None
    """``None``: no figures declared."""
    usage_history: tuple[Decimal, ...]
    member_from: date | None
    """``None`` (and ``member_until``): a member for as long as the records go."""
    member_until: date | None


class ResolvedPolicy(ResolvedSection):
    """A node's effective settings, one resolved section per inheritable section."""

    circulation: ResolvedCirculation
    ils: ResolvedIls
    lending: ResolvedLending
    cost: ResolvedCost

    @classmethod
    def from_keys(cls, values: Mapping[str, object]) -> ResolvedPolicy:
        """The view of values by dotted key (``ils.dialect.charset``), as
        ``config.inheritance`` resolves them for a node.

        Raises:
            pydantic.ValidationError: A setting is missing, unknown or of the wrong type.
        """
        nested: dict[str, object] = {}
        for key, value in values.items():
            *sections, name = key.split(".")
            target = nested
            for section in sections:
                inner = target.setdefault(section, {})
                assert isinstance(inner, dict)
                target = inner
            target[name] = value
        return cls.model_validate(nested)


@lru_cache(maxsize=64)
def listener_dialect(settings: DialectSettings) -> ResolvedDialect:
    """A kiosk listener's dialect (``gateway.sip2[].dialect``, not inherited).

    Unset settings take their defaults, except ``max_field_length``: a listener that
    sets none sends its kiosks fields of any length (what a member's ILS answered
    reaches the kiosk whole).  Asked for at every kiosk connection, so the few
    distinct answers are kept.
    """
    resolved = ResolvedDialect.of(settings)
    return resolved.model_copy(update={"max_field_length": settings.max_field_length})
