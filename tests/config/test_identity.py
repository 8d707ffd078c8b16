"""Barcode patterns match and overlap exactly as their small language says."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.identity import BarcodePattern


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("21001*", ["21001", "210019", "21001ABC"], ["2100", "31001"]),
        (
            "21001#########",
            ["21001000000001"],
            ["2100100000000", "210010000000012", "21001A00000001"],
        ),
        ("P@@####", ["PAB1234", "Pzz0000"], ["PA11234", "PAB123"]),
        ("A?C", ["ABC", "A-C"], ["AC", "ABBC"]),
        ("\\#1*", ["#1", "#12"], ["11"]),
        ("*", ["", "anything"], []),
    ],
)
def test_matching(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    """Digits, letters, any character, literals, escapes and a trailing star."""
    rule = BarcodePattern.parse(pattern)
    assert str(rule) == pattern
    for barcode in matching:
        assert rule.matches(barcode), barcode
    for barcode in not_matching:
        assert not rule.matches(barcode), barcode


@pytest.mark.parametrize(
    ("pattern", "message"), [("", "empty"), ("2*1", "only end"), ("21\\", "escapes nothing")]
)
def test_malformed_patterns(pattern: str, message: str) -> None:
    """Empty patterns, a star before the end and a trailing backslash are refused."""
    with pytest.raises(ValueError, match=message):
        BarcodePattern.parse(pattern)


ALPHABET = "12A#@?"
patterns = st.builds(
    lambda body, star: body + ("*" if star else ""),
    st.text(ALPHABET, min_size=1, max_size=4),
    st.booleans(),
)


def brute_force_overlap(a: BarcodePattern, b: BarcodePattern) -> bool:
    """Try every barcode over a small alphabet up to the longest pattern plus one."""
    length = max(len(a.positions), len(b.positions)) + 1
    for size in range(length + 1):
        for chars in itertools.product("12AB-", repeat=size):
            candidate = "".join(chars)
            if a.matches(candidate) and b.matches(candidate):
                return True
    return False


@given(patterns, patterns)
def test_overlap_is_decided_exactly(left: str, right: str) -> None:
    """overlap_example finds a shared barcode exactly when one exists, and it matches both."""
    a, b = BarcodePattern.parse(left), BarcodePattern.parse(right)
    example = a.overlap_example(b)
    if example is not None:
        assert a.matches(example)
        assert b.matches(example)
        assert b.overlap_example(a) is not None
    assert (example is not None) == brute_force_overlap(a, b)


def matches_position_by_position(rule: BarcodePattern, barcode: str) -> bool:
    """The pattern language read literally: each position, then the length."""
    if len(barcode) < len(rule.positions):
        return False
    if len(barcode) > len(rule.positions) and not rule.open_ended:
        return False
    return all(
        chars is None or char in chars for chars, char in zip(rule.positions, barcode, strict=False)
    )


@given(
    st.text("12A#@?\\*.[]^$|-\n", min_size=1, max_size=6),
    st.text("12AaZ#@?*.[]\\-\n é٣", max_size=8),
)
def test_matching_is_the_pattern_language_read_literally(pattern: str, barcode: str) -> None:
    """Regular-expression characters in a pattern are literals, ``?`` takes a newline
    too, ``#`` only ASCII digits: whatever the pattern and the barcode."""
    try:
        rule = BarcodePattern.parse(pattern)
    except ValueError:
        return  # a malformed pattern (its own test)
    assert rule.matches(barcode) == matches_position_by_position(rule, barcode)
