"""The byte sum behind AZ: the Adler-32 shortcut agrees with ``sum()`` at every length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.sip2.checksum import byte_sum, checksum, checksum_ok


@pytest.mark.parametrize("length", [0, 1, 255, 256, 257, 1000])
def test_byte_sum_of_the_largest_bytes_is_exact_on_both_sides_of_the_shortcut(
    length: int,
) -> None:
    """All-0xFF input is the worst case for Adler-32 wrapping; the sum stays exact."""
    data = b"\xff" * length
    assert sum(data) == byte_sum(data)


@given(st.binary(max_size=600))
def test_byte_sum_is_the_plain_sum(data: bytes) -> None:
    """Any bytes, short or long, sum the same as ``sum()``."""
    assert sum(data) == byte_sum(data)


@given(st.binary(max_size=600))
def test_a_checksum_checks(data: bytes) -> None:
    """The digits ``checksum`` writes are the ones ``checksum_ok`` accepts."""
    prefix = data + b"AZ"
    assert checksum_ok(prefix, checksum(prefix))
    assert checksum(prefix) == b"%04X" % (-sum(prefix) & 0xFFFF)
