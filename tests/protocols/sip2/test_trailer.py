"""Finding the AY/AZ trailer: the quick look at the last bytes agrees with the pattern."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.sip2 import Dialect
from protocols.sip2.codec import split_trailer

STRICT = Dialect(strict=True)
LENIENT = Dialect()
_PATTERNS = {
    True: re.compile(rb"(?:AY([0-9]))?AZ([0-9A-F]{4})\Z"),
    False: re.compile(rb"(?:AY([0-9]))?AZ([0-9A-Fa-f]{1,4})\Z"),
}


def _by_pattern(body: bytes, strict: bool) -> tuple[bytes, int | None, bytes | None, int]:
    """The trailer as the regular expression alone finds it (the reference)."""
    found = _PATTERNS[strict].search(body, max(0, len(body) - 9))
    if found is None:
        return body, None, None, len(body)
    sequence = found.group(1)
    return (
        body[: found.start()],
        int(sequence) if sequence is not None else None,
        found.group(2),
        found.start(2),
    )


_TAILS = st.lists(st.sampled_from([b"A", b"Y", b"Z", b"0", b"7", b"9", b"F", b"f", b"|", b"x"]))


@pytest.mark.parametrize(
    "body",
    [
        b"9900302.00AY1AZFCA5",
        b"96AZFEF6",
        b"AZ1234",
        b"AZ12",
        b"xAYzAZ1234",
        b"AYAZ1234",
        b"9900302.00AY1AZfca5",
        b"AZAZ12",
        b"",
        b"AZ",
        b"AY1AZ12345",
    ],
)
@pytest.mark.parametrize("dialect", [STRICT, LENIENT], ids=["strict", "lenient"])
def test_examples(body: bytes, dialect: Dialect) -> None:
    """Common and tricky endings split as the pattern splits them."""
    assert split_trailer(body, dialect) == _by_pattern(body, dialect.strict)


@given(head=st.binary(max_size=12), tail=_TAILS)
def test_any_ending(head: bytes, tail: list[bytes]) -> None:
    """Any bytes, ending in anything made of trailer characters, split the same way."""
    body = head + b"".join(tail)
    for dialect in (STRICT, LENIENT):
        assert split_trailer(body, dialect) == _by_pattern(body, dialect.strict)
