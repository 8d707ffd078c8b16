"""Typed values of SIP2 fields: how wire text becomes a Python value and back.

Each ``FieldType[T]`` turns the characters of one field into a ``T`` and a ``T`` into
characters.  The same type serves fixed fields (where ``width`` is the exact number of
characters) and variable fields (where ``width`` only sets zero padding).

Errors: ``decode`` raises ``ValueError`` for text it cannot accept and ``encode`` raises
``ValueError`` for a value it cannot write.  The codec turns the first into a
``RemoteProtocolError`` and the second into a ``LocalProtocolError``, adding which
field was wrong, so these types stay free of message context.

Lenient parsing (``dialect.strict`` false) accepts what real peers send: lower-case
flags, space-padded or unpadded numbers, blank or all-zero dates, ``N`` in ``Y``/blank
strings.  It never guesses a value that was not on the wire.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from .dialect import Dialect

__all__ = [
    "COUNT",
    "OK",
    "TEXT",
    "YN",
    "YNU",
    "Choice",
    "Code",
    "Count",
    "Date",
    "FieldType",
    "Flag",
    "Flags",
    "Number",
    "Text",
    "Tristate",
]

T_co = TypeVar("T_co", covariant=True)
IntEnumT = TypeVar("IntEnumT", bound=enum.IntEnum)
IntFlagT = TypeVar("IntFlagT", bound=enum.IntFlag)
StrEnumT = TypeVar("StrEnumT", bound=enum.Enum)


def _is_digits(raw: str) -> bool:
    # str.isdigit() alone accepts non-ASCII digits such as "²"; SIP2 numbers are ASCII.
    return raw.isascii() and raw.isdigit()


class FieldType(Generic[T_co]):
    """How one kind of field is read and written.

    Attributes:
        width: Characters the value takes as a fixed field (``None``: variable only).
        text: True for plain text, which the codec passes through without a call.
    """

    width: int | None = None
    text: bool = False

    def decode(self, raw: str, dialect: Dialect) -> T_co:
        """Read a value from wire text (``ValueError`` when it is not acceptable)."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write a value as wire text (``ValueError`` when it is not a valid value).

        The value is typed ``object`` and checked here, at run time, because a message
        built by hand can hold anything; the check is what makes encoding safe.
        """
        raise NotImplementedError  # pragma: no cover - every subclass overrides it


class Text(FieldType[str]):
    """Free text; as a fixed field, exactly ``width`` characters.

    Args:
        width: Exact width as a fixed field.
        pattern: A regular expression the value must match in strict parsing.
    """

    def __init__(self, width: int | None = None, pattern: str | None = None) -> None:
        self.width = width
        self.text = width is None and pattern is None
        self._pattern = re.compile(pattern) if pattern is not None else None

    def decode(self, raw: str, dialect: Dialect) -> str:
        """Return the text itself, checked against the pattern when strict."""
        if dialect.strict and self._pattern is not None and not self._pattern.fullmatch(raw):
            raise ValueError(f"{raw!r} does not match {self._pattern.pattern}")
        return raw

    def encode(self, value: object, dialect: Dialect) -> str:
        """Return the text, which must fill a fixed field exactly."""
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}")
        if self.width is not None and len(value) != self.width:
            raise ValueError(f"must be exactly {self.width} characters, got {len(value)}")
        return value


class Flag(FieldType[bool]):
    """A one-character boolean: ``Y``/``N`` or ``1``/``0``.

    Args:
        true: The character for true.
        false: The character for false.
    """

    width = 1

    def __init__(self, true: str, false: str) -> None:
        self._true = true
        self._false = false
        self._lenient = {true: True, false: False, true.lower(): True, false.lower(): False}
        # Peers that mix conventions send Y/N in 0/1 fields and the reverse.
        self._lenient.update({"Y": True, "y": True, "N": False, "n": False})
        self._lenient.update({"1": True, "0": False, " ": False})

    def decode(self, raw: str, dialect: Dialect) -> bool:
        """Read the flag; lenient parsing accepts either convention and blank."""
        if raw == self._true:
            return True
        if raw == self._false:
            return False
        if not dialect.strict and raw in self._lenient:
            return self._lenient[raw]
        raise ValueError(f"expected {self._true!r} or {self._false!r}, got {raw!r}")

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write the flag."""
        if value is True:
            return self._true
        if value is False:
            return self._false
        raise ValueError(f"expected a bool, got {value!r}")


_TRISTATE: dict[str, bool | None] = {"Y": True, "N": False, "U": None}
_TRISTATE_LENIENT: dict[str, bool | None] = {"y": True, "n": False, "u": None, " ": None}


class Tristate(FieldType[bool | None]):
    """``Y``/``N``/``U`` (unknown → ``None``): magnetic media, desensitize."""

    width = 1

    def decode(self, raw: str, dialect: Dialect) -> bool | None:
        """Read the flag; ``U`` (and, leniently, blank) is unknown."""
        if raw in _TRISTATE:
            return _TRISTATE[raw]
        if not dialect.strict and raw in _TRISTATE_LENIENT:
            return _TRISTATE_LENIENT[raw]
        raise ValueError(f"expected 'Y', 'N' or 'U', got {raw!r}")

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write the flag."""
        if value is None:
            return "U"
        return YN.encode(value, dialect)


class Number(FieldType[int]):
    """A non-negative decimal number, zero-padded to ``width`` when given.

    Args:
        width: Digits as a fixed field, and zero padding as a variable one.
    """

    def __init__(self, width: int | None = None) -> None:
        self.width = width
        self._limit = 10**width if width is not None else None
        self._format = f"0{width}d" if width is not None else "d"

    def decode(self, raw: str, dialect: Dialect) -> int:
        """Read the number; lenient parsing accepts spaces and missing padding."""
        if dialect.strict:
            if self.width is not None and len(raw) != self.width:
                raise ValueError(f"expected {self.width} digits, got {raw!r}")
        else:
            raw = raw.strip(" ")
        if not _is_digits(raw):
            raise ValueError(f"expected digits, got {raw!r}")
        return int(raw)

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write the number with its padding."""
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"expected a non-negative int, got {value!r}")
        if self._limit is not None and value >= self._limit:
            raise ValueError(f"{value} does not fit in {self.width} digits")
        return format(value, self._format)


class Count(FieldType[int | None]):
    """A 4-digit count where 4 blanks mean "not supported" (``None``)."""

    width = 4
    _number = Number(4)

    def decode(self, raw: str, dialect: Dialect) -> int | None:
        """Read the count; blanks are ``None``."""
        if raw == "    ":
            return None
        return self._number.decode(raw, dialect)

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write the count; ``None`` is 4 blanks."""
        return "    " if value is None else self._number.encode(value, dialect)


class Code(FieldType[IntEnumT | int], Generic[IntEnumT]):
    """A numeric code: an enum member when the standard defines it, else the int.

    Args:
        width: Digits of the code.
        codes: The enum of defined codes.
    """

    def __init__(self, width: int, codes: type[IntEnumT]) -> None:
        self.width = width
        self._number = Number(width)
        self._members: dict[int, IntEnumT] = {int(m): m for m in codes}
        # Codes written as the standard writes them (``width`` digits), which read the
        # same strictly and leniently; there are at most 10**width of them (a thousand
        # for the widest code), so the cache needs no other bound.
        self._read: dict[str, IntEnumT | int] = {}
        self._written: dict[int, str] = {}

    def decode(self, raw: str, dialect: Dialect) -> IntEnumT | int:
        """Read the code."""
        known = self._read.get(raw)
        if known is not None:
            return known
        value = self._number.decode(raw, dialect)
        code = self._members.get(value, value)
        if len(raw) == self.width and _is_digits(raw):
            self._read[raw] = code
        return code

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write the code."""
        if isinstance(value, int) and not isinstance(value, bool):
            written = self._written.get(value)
            if written is None:
                # Bounded like the codes read: the ones that fit have 10**width values;
                # a code that does not fit raises here and is not kept.
                written = self._written[value] = self._number.encode(int(value), dialect)
            return written
        return self._number.encode(value, dialect)


class Choice(FieldType[StrEnumT], Generic[StrEnumT]):
    """A one-character code with a fixed set of values (hold mode).

    Args:
        choices: The enum whose values are the allowed characters.
    """

    width = 1

    def __init__(self, choices: type[StrEnumT]) -> None:
        self.choices = choices
        self._members: dict[str, StrEnumT] = {str(m.value): m for m in choices}

    def decode(self, raw: str, dialect: Dialect) -> StrEnumT:
        """Read the choice."""
        try:
            return self._members[raw]
        except KeyError:
            raise ValueError(f"expected one of {sorted(self._members)}, got {raw!r}") from None

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write the choice."""
        if not isinstance(value, self.choices):
            raise ValueError(f"expected a {self.choices.__name__}, got {value!r}")
        return str(value.value)


class Flags(FieldType[IntFlagT], Generic[IntFlagT]):
    """A string of positional flags, bit *n* for position *n*.

    Args:
        width: Number of positions.
        flags: The ``IntFlag`` with one member per position.
        clear: The character of an unset position (blank, or ``N`` for BX).
    """

    _CACHE_LIMIT = 4096

    def __init__(self, width: int, flags: type[IntFlagT], clear: str) -> None:
        self.width = self._positions = width
        self.flags = flags
        self._clear = clear
        self._cache: dict[tuple[str, bool], IntFlagT] = {}
        self._written: dict[int, str] = {}

    def decode(self, raw: str, dialect: Dialect) -> IntFlagT:
        """Read the positions; lenient parsing reads anything but ``Y`` as unset."""
        key = (raw, dialect.strict)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if dialect.strict:
            if len(raw) != self._positions:
                raise ValueError(f"expected {self._positions} positions, got {len(raw)}")
            if not frozenset(raw) <= {"Y", self._clear}:
                raise ValueError(f"positions must be 'Y' or {self._clear!r}, got {raw!r}")
        elif len(raw) > self._positions:
            raise ValueError(f"expected at most {self._positions} positions, got {len(raw)}")
        bits = 0
        for position, char in enumerate(raw):
            if char in "Yy":
                bits |= 1 << position
        value = self.flags(bits)
        if len(self._cache) < self._CACHE_LIMIT:
            self._cache[key] = value
        return value

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write the positions."""
        if not isinstance(value, self.flags):
            raise ValueError(f"expected a {self.flags.__name__}, got {value!r}")
        bits = int(value)
        written = self._written.get(bits)
        if written is None:
            written = "".join("Y" if bits >> n & 1 else self._clear for n in range(self._positions))
            if len(self._written) < self._CACHE_LIMIT:
                self._written[bits] = written
        return written


# Military time zone letters (A-I, K-M east; N-Y west; Z is UTC; J means local).
_MILITARY: dict[str, timezone] = {"Z": UTC}
for _offset, _letter in enumerate("ABCDEFGHIKLM", start=1):
    _MILITARY[_letter] = timezone(timedelta(hours=_offset))
for _offset, _letter in enumerate("NOPQRSTUVWXY", start=1):
    _MILITARY[_letter] = timezone(timedelta(hours=-_offset))


_DATE_CACHE_LIMIT = 256
"""Dates kept per kind and direction; the cache starts over when it is full."""


class Date(FieldType[datetime | None]):
    """The 18-character SIP2 date ``YYYYMMDDZZZZHHMMSS`` as an aware ``datetime``.

    A blank zone means the peer's local time (``dialect.timezone``); a single letter in
    the last zone position is a military zone (``Z`` = UTC).  ``None`` stands for "no
    date": written as ``empty`` (18 blanks, or 18 zeros for the ACS date sync).

    Args:
        empty: How "no date" is written.
        nullable: Whether strict parsing accepts "no date" for this field.
    """

    width = 18

    def __init__(self, empty: str = " " * 18, *, nullable: bool = False) -> None:
        self._empty = empty
        self.nullable = nullable
        # Dates recently read and written, by everything the result depends on.  Frames
        # mostly carry the current second, so most dates are ones just seen; a gateway
        # reads and writes a kiosk's dates and an ILS's in turn, so a few are kept.
        self._read: dict[tuple[str, tzinfo, bool], datetime] = {}
        self._written: dict[tuple[datetime, int, tzinfo, bool], str] = {}

    def decode(self, raw: str, dialect: Dialect) -> datetime | None:
        """Read the date (``ValueError`` on a malformed or impossible date)."""
        if raw == self._empty and (self.nullable or not dialect.strict):
            return None
        if raw.isspace() or raw == "0" * 18:
            if dialect.strict:
                raise ValueError("a date is required here (lenient parsing accepts blanks)")
            return None
        if len(raw) != 18:
            raise ValueError(f"a date has 18 characters, got {len(raw)}")
        key = (raw, dialect.timezone, dialect.strict)  # all the value depends on
        known = self._read.get(key)
        if known is not None:
            return known
        day, zone, time = raw[:8], raw[8:12], raw[12:]
        if not (_is_digits(day) and _is_digits(time)):
            raise ValueError(f"malformed date {raw!r}")
        tz = self._zone(zone, dialect)
        value = datetime(
            int(day[:4]),
            int(day[4:6]),
            int(day[6:8]),
            int(time[:2]),
            int(time[2:4]),
            int(time[4:6]),
            tzinfo=tz,
        )
        if len(self._read) >= _DATE_CACHE_LIMIT:
            self._read.clear()
        self._read[key] = value
        return value

    @staticmethod
    def _zone(zone: str, dialect: Dialect) -> tzinfo:
        if zone == "    ":
            return dialect.timezone
        if dialect.strict:
            if zone[:3] != "   ":
                raise ValueError(f"malformed time zone indicator {zone!r}")
            letter = zone[3]
        else:
            letter = zone.strip(" ").upper()
        if letter == "J":
            return dialect.timezone
        military = _MILITARY.get(letter)
        if military is None:
            raise ValueError(f"unknown time zone indicator {zone!r}")
        return military

    def encode(self, value: object, dialect: Dialect) -> str:
        """Write the date in the peer's local time, or in UTC if it asks for that.

        SIP2 dates have whole seconds; a fraction of a second is not written.
        """
        if value is None:
            return self._empty
        # Equal datetimes are the same instant, except two readings of a repeated local
        # hour (equal, but told apart by ``fold``): the key holds the fold too.
        key = (
            (value, value.fold, dialect.timezone, dialect.utc_dates)
            if type(value) is datetime
            else None
        )
        if key is not None:
            known = self._written.get(key)
            if known is not None:
                return known
        if not isinstance(value, datetime):
            raise ValueError(f"expected a datetime, got {value!r}")
        if value.utcoffset() is None:
            raise ValueError("dates must be timezone-aware")
        target = UTC if dialect.utc_dates else dialect.timezone
        try:
            local = value.astimezone(target)
        except OverflowError as exc:
            raise ValueError(f"{value} cannot be expressed in the peer's time zone") from exc
        zone = "   Z" if dialect.utc_dates else "    "
        text = (
            f"{local.year:04d}{local.month:02d}{local.day:02d}{zone}"
            f"{local.hour:02d}{local.minute:02d}{local.second:02d}"
        )
        if key is not None:
            if len(self._written) >= _DATE_CACHE_LIMIT:
                self._written.clear()
            self._written[key] = text
        return text


TEXT = Text()
YN = Flag("Y", "N")
OK = Flag("1", "0")
YNU = Tristate()
COUNT = Count()
