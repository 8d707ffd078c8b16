"""The SIP2 error-detection trailer: ``AY`` sequence number and ``AZ`` checksum.

The checksum is computed over the *encoded bytes* of the frame from its first byte
through the two characters ``AZ``: add the bytes, keep the low 16 bits, take the two's
complement, write it as four upper-case hex digits (reference §1.3).  A receiver checks
that the byte sum plus the checksum value is zero in 16 bits.
"""

from __future__ import annotations

__all__ = ["checksum", "checksum_ok", "next_sequence"]


def checksum(prefix: bytes) -> bytes:
    """Return the four hex digits of the checksum of ``prefix`` (which ends in ``AZ``).

    >>> checksum(b"9900302.00AY1AZ")
    b'FCA5'
    """
    return b"%04X" % (-sum(prefix) & 0xFFFF)


def checksum_ok(prefix: bytes, digits: bytes) -> bool:
    """Whether ``digits`` (hex) is the right checksum for ``prefix``."""
    return (sum(prefix) + int(digits, 16)) & 0xFFFF == 0


def next_sequence(sequence: int) -> int:
    """The ``AY`` number after ``sequence``: 0-9, wrapping from 9 back to 0."""
    return (sequence + 1) % 10
