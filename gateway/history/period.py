"""A reporting period: a calendar month (``2026-11``), or any span of whole days.

Periods are in UTC and half-open (``start`` included, ``end`` excluded), so consecutive
months tile time without overlap and a loan belongs to exactly one period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

__all__ = ["Period", "PeriodError"]

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_SPAN = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")


class PeriodError(ValueError):
    """A period that cannot be read (the message says what is expected)."""


@dataclass(frozen=True)
class Period:
    """A span of whole UTC days.

    Attributes:
        first: The first day.
        last: The last day (included).
        label: How the period is named in reports (``2026-11``, or the span).
    """

    first: date
    last: date
    label: str

    @classmethod
    def parse(cls, text: str) -> Period:
        """``YYYY-MM`` (a calendar month) or ``YYYY-MM-DD..YYYY-MM-DD`` (both days
        included).

        Raises:
            PeriodError: Neither form, or not a real date.
        """
        text = text.strip()
        month = _MONTH.fullmatch(text)
        try:
            if month is not None:
                return cls.month(int(month.group(1)), int(month.group(2)))
            span = _SPAN.fullmatch(text)
            if span is not None:
                first = date.fromisoformat(span.group(1))
                last = date.fromisoformat(span.group(2))
                if last < first:
                    raise PeriodError(f"{text!r}: the last day is before the first")
                return cls(first, last, text)
        except ValueError as exc:
            if isinstance(exc, PeriodError):
                raise
            raise PeriodError(f"{text!r} is not a real date: {exc}") from None
        raise PeriodError(f"{text!r} is not a period: give YYYY-MM or YYYY-MM-DD..YYYY-MM-DD")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        """A calendar month."""
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(first, following - timedelta(days=1), f"{year:04d}-{month:02d}")

    @property
    def start(self) -> datetime:
        """The period's first instant (UTC)."""
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The instant after the period (UTC, excluded)."""
        return self.start + timedelta(days=self.days)

    @property
    def days(self) -> int:
        """How many days the period has."""
        return (self.last - self.first).days + 1

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end
