"""The SIP2 error-detection trailer: ``AY`` sequence number and ``AZ`` checksum.

The checksum is computed over the *encoded bytes* of the frame from its first byte
through the two characters ``AZ``: add the bytes, keep the low 16 bits, take the two's
complement, write it as four upper-case hex digits (reference §1.3).  A receiver checks
that the byte sum plus the checksum value is zero in 16 bits.

The byte sum is the one cost here, paid twice per exchange.  ``sum()`` walks the bytes
as Python integers; Adler-32 (``zlib``, in C) keeps ``1 + sum`` modulo 65521 in its
low half, which is the plain sum as long as it cannot wrap: up to ``_ADLER_EXACT``
bytes (``1 + 256 * 255 < 65521``), the size of nearly every SIP2 frame.  Longer ones
are summed the plain way.
"""

from __future__ import annotations

import zlib

__all__ = ["byte_sum", "checksum", "checksum_ok", "next_sequence"]

_ADLER_EXACT = 256
"""The longest input whose Adler-32 low half is exactly 1 + its byte sum."""


def byte_sum(data: bytes) -> int:
    """The sum of the bytes of ``data``.

    >>> byte_sum(b"AZ")
    155
    """
    if len(data) <= _ADLER_EXACT:
        return (zlib.adler32(data) & 0xFFFF) - 1
    return sum(data)


def checksum(prefix: bytes) -> bytes:
    """Return the four hex digits of the checksum of ``prefix`` (which ends in ``AZ``).

    >>> checksum(b"9900302.00AY1AZ")
    b'FCA5'
    """
    return b"%04X" % (-byte_sum(prefix) & 0xFFFF)


def checksum_ok(prefix: bytes, digits: bytes) -> bool:
    """Whether ``digits`` (hex) is the right checksum for ``prefix``."""
    return (byte_sum(prefix) + int(digits, 16)) & 0xFFFF == 0


def next_sequence(sequence: int) -> int:
    """The ``AY`` number after ``sequence``: 0-9, wrapping from 9 back to 0."""
    return (sequence + 1) % 10
