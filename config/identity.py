"""Barcode patterns: which library a patron card or an item belongs to.

A pattern is a small language chosen so that overlap between two rules can be
*decided*, not guessed (general regular expressions cannot be compared):

=========  ===========================================================
``#``      one digit
``@``      one letter (A-Z, a-z)
``?``      any one character
``*``      any rest, including nothing; only at the end
``\\x``    the character ``x`` itself (``\\#`` is a literal ``#``)
other      that character (case-sensitive)
=========  ===========================================================

So ``21001*`` is the prefix 21001, ``21001#########`` is a 14-digit card with that
prefix, and ``P@@####`` is a P, two letters and four digits.  Two rules overlap when
some barcode matches both; ``overlap_example`` names one such barcode, which makes the
configuration error concrete.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cached_property

__all__ = ["BarcodePattern"]

_DIGITS = frozenset(string.digits)
_LETTERS = frozenset(string.ascii_letters)

CharSet = frozenset[str] | None
"""Characters allowed at one position; ``None`` allows any."""


def _meet(a: CharSet, b: CharSet) -> CharSet:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _character_class(chars: CharSet) -> str:
    """One position as a regular expression."""
    if chars is None:
        return "."
    if len(chars) == 1:
        return re.escape(next(iter(chars)))
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


def _example(chars: CharSet) -> str:
    return "X" if chars is None else min(chars)


@dataclass(frozen=True)
class BarcodePattern:
    """A parsed barcode pattern (see the module documentation for the syntax)."""

    text: str
    positions: tuple[CharSet, ...]
    open_ended: bool

    @classmethod
    def parse(cls, text: str) -> BarcodePattern:
        """Parse a pattern.

        Raises:
            ValueError: The pattern is empty, has ``*`` before its end, or ends in ``\\``.
        """
        if not text:
            raise ValueError("a barcode pattern cannot be empty")
        positions: list[CharSet] = []
        open_ended = False
        i = 0
        while i < len(text):
            char = text[i]
            if char == "*":
                if i != len(text) - 1:
                    raise ValueError(f"'*' may only end a pattern: {text!r}")
                open_ended = True
            elif char == "\\":
                if i + 1 == len(text):
                    raise ValueError(f"'\\' at the end of {text!r} escapes nothing")
                i += 1
                positions.append(frozenset(text[i]))
            elif char == "#":
                positions.append(_DIGITS)
            elif char == "@":
                positions.append(_LETTERS)
            elif char == "?":
                positions.append(None)
            else:
                positions.append(frozenset(char))
            i += 1
        return cls(text, tuple(positions), open_ended)

    def matches(self, barcode: str) -> bool:
        """Whether ``barcode`` fits the pattern."""
        return self._compiled.fullmatch(barcode) is not None

    @cached_property
    def _compiled(self) -> re.Pattern[str]:
        """The pattern as a regular expression (every request's routing asks several
        patterns; a position-by-position loop in Python costs a microsecond each)."""
        parts = [_character_class(chars) for chars in self.positions]
        if self.open_ended:
            parts.append(".*")
        return re.compile("".join(parts), re.DOTALL)

    def overlap_example(self, other: BarcodePattern) -> str | None:
        """A barcode that both patterns match, or ``None`` if they are disjoint."""
        example = []
        for mine, theirs in zip(self.positions, other.positions, strict=False):
            both = _meet(mine, theirs)
            if both is not None and not both:
                return None
            example.append(_example(both))
        if len(self.positions) == len(other.positions):
            return "".join(example)
        shorter, longer = sorted((self, other), key=lambda p: len(p.positions))
        if not shorter.open_ended:
            return None
        example.extend(_example(chars) for chars in longer.positions[len(shorter.positions) :])
        return "".join(example)

    def __str__(self) -> str:
        return self.text
