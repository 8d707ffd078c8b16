"""Hypothesis strategies for SIP2 messages and dialects, derived from the layouts.

Each message class's ``spec`` says which kind every field has; ``messages()`` builds
values that the given dialect can carry (characters in its charset, no delimiter, no
CR or NUL, lengths within limits), so that ``decode(encode(m)) == m`` must hold.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from protocols.sip2 import Charset, Dialect, Message, Terminator
from protocols.sip2.fieldtypes import (
    Choice,
    Code,
    Count,
    Date,
    FieldType,
    Flag,
    Flags,
    Number,
    Text,
    Tristate,
)

if TYPE_CHECKING:
    from protocols.sip2.spec import MessageSpec

ALL_MESSAGE_TYPES = sorted(Message.registry.values(), key=lambda cls: cls.code)
ZONES: list[tzinfo] = [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=13))]


def _alphabet(dialect: Dialect) -> st.SearchStrategy[str]:
    forbidden = {"\r", "\x00", dialect.field_delimiter}
    if dialect.charset is Charset.UTF8:
        return st.characters(codec="utf-8", exclude_characters=forbidden)
    chars = sorted(
        {
            bytes([b]).decode(dialect.codec)
            for b in range(1, 256 if dialect.codec != "ascii" else 128)
        }
        - forbidden
    )
    return st.sampled_from(chars)


def text(dialect: Dialect, max_size: int = 40) -> st.SearchStrategy[str]:
    """Text values the dialect can carry."""
    return st.text(_alphabet(dialect), max_size=max_size)


def dates(dialect: Dialect) -> st.SearchStrategy[datetime]:
    """Aware datetimes with whole seconds that the dialect's zone can express."""
    zone = st.sampled_from([*ZONES, dialect.timezone])
    return st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30), timezones=zone
    ).map(lambda d: d.replace(microsecond=0))


def kind_values(kind: FieldType[object], dialect: Dialect) -> st.SearchStrategy[object]:
    """Valid values of one field kind (``None`` only where it is a valid value)."""
    match kind:
        case Text(width=None) if kind.text:
            return text(dialect)
        case Text(width=3):
            return st.from_regex(r"[A-Z]{3}", fullmatch=True)
        case Text(width=4):
            return st.from_regex(r"[0-9]\.[0-9]{2}", fullmatch=True)
        case Text(width=1):
            return st.sampled_from("0123456789ABCXYZ")
        case Flag():
            return st.booleans()
        case Tristate():
            return st.none() | st.booleans()
        case Count():
            return st.none() | st.integers(0, 9999)
        case Number(width=None):
            return st.integers(0, 10**9)
        case Number(width=int(width)) | Code(width=int(width)):
            return st.integers(0, 10**width - 1)
        case Choice():
            return st.sampled_from(kind.choices)
        case Flags(width=int(width)):
            return st.integers(0, 2**width - 1).map(kind.flags)
        case Date():
            nullable = kind.nullable or not dialect.strict
            return (st.none() | dates(dialect)) if nullable else dates(dialect)
    raise AssertionError(f"no strategy for {kind!r}")  # pragma: no cover


def extensions(
    spec: MessageSpec, dialect: Dialect
) -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    """Fields outside the layout, with identifiers the layout does not use."""
    field_id = st.text(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), min_size=2, max_size=2
    ).filter(lambda i: i not in spec.by_id)
    return st.lists(st.tuples(field_id, text(dialect, 20)), max_size=3).map(tuple)


def messages(cls: type[Message], dialect: Dialect) -> st.SearchStrategy[Message]:
    """Messages of type ``cls`` that ``dialect`` can encode and decode back."""
    spec = cls.spec
    fields: dict[str, st.SearchStrategy[object]] = {}
    for f in spec.fixed:
        fields[f.name] = kind_values(f.kind, dialect)
    for v in spec.variable:
        values = kind_values(v.kind, dialect).filter(lambda x: x is not None)
        if v.repeatable:
            fields[v.name] = st.lists(values, max_size=3).map(tuple)
        elif v.required:
            fields[v.name] = values
        else:
            fields[v.name] = st.none() | values
    fields["extensions"] = extensions(spec, dialect)
    return st.builds(cls, **fields)


def dialects() -> st.SearchStrategy[Dialect]:
    """Dialects across charsets, delimiters, terminators, strictness and zones."""
    return st.builds(
        Dialect,
        charset=st.sampled_from(list(Charset)),
        field_delimiter=st.sampled_from(["|", "^", "~"]),
        terminator=st.sampled_from(list(Terminator)),
        strict=st.booleans(),
        timezone=st.sampled_from([*ZONES, ZoneInfo("America/Chicago")]),
        utc_dates=st.booleans(),
    )


def dialect_and_message() -> st.SearchStrategy[tuple[Dialect, Message]]:
    """A dialect and a message of any type it can carry."""
    return dialects().flatmap(
        lambda d: (
            st.sampled_from(ALL_MESSAGE_TYPES)
            .flatmap(lambda cls: messages(cls, d))
            .map(lambda m: (d, m))
        )
    )
