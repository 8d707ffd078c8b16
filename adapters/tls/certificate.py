"""What the gateway tells about a certificate it serves: serial number and expiry.

The standard library decodes a certificate only once a peer has sent it (or for CA
certificates), so the leaf a listener serves is read here from its DER encoding
(RFC 5280, section 4.1): ``TBSCertificate`` begins with an optional version, the
serial number, the signature algorithm, the issuer and the validity, which is all
that is needed.  OpenSSL has already accepted the certificate when this runs; a
structure that does not fit is reported as unreadable.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["CertificateInfo", "NotACertificate", "read_certificate"]

_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s.+?\s-----END CERTIFICATE-----", re.DOTALL
)
_SEQUENCE, _INTEGER, _VERSION, _UTC_TIME, _GENERALIZED_TIME = 0x30, 0x02, 0xA0, 0x17, 0x18


@dataclass(frozen=True)
class CertificateInfo:
    """What may be said about a served certificate (no secret in it)."""

    serial: str
    """The serial number in hex, as OpenSSL writes it (``getpeercert()["serialNumber"]``)."""
    not_after: datetime


class NotACertificate(ValueError):
    """The text holds no PEM certificate, or one that cannot be decoded."""


def _element(data: bytes, at: int) -> tuple[int, int, int]:
    """The DER element at ``at``: its tag, where its content starts and where it ends."""
    if at + 2 > len(data):
        raise NotACertificate("truncated")
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or at + size > len(data):
            raise NotACertificate("bad length")
        length, at = int.from_bytes(data[at : at + size], "big"), at + size
    if at + length > len(data):
        raise NotACertificate("truncated")
    return tag, at, at + length


def _expect(data: bytes, at: int, tag: int) -> tuple[int, int]:
    found, start, end = _element(data, at)
    if found != tag:
        raise NotACertificate(f"tag {found:#x} where {tag:#x} was expected")
    return start, end


def _time(data: bytes, at: int) -> tuple[datetime, int]:
    tag, start, end = _element(data, at)
    text = data[start:end].decode("ascii", "replace")
    formats = {_UTC_TIME: "%y%m%d%H%M%SZ", _GENERALIZED_TIME: "%Y%m%d%H%M%SZ"}
    if tag not in formats:
        raise NotACertificate(f"tag {tag:#x} where a time was expected")
    try:
        return datetime.strptime(text, formats[tag]).replace(tzinfo=UTC), end
    except ValueError:
        raise NotACertificate(f"time {text!r}") from None


def read_certificate(pem: str) -> CertificateInfo:
    """The serial number and expiry of the first certificate in ``pem`` (the leaf of
    a chain file).

    Raises:
        NotACertificate: There is none, or it cannot be decoded.
    """
    found = _PEM_CERTIFICATE.search(pem)
    if found is None:
        raise NotACertificate("no PEM certificate")
    try:
        der = ssl.PEM_cert_to_DER_cert(found.group())
    except ValueError as exc:
        raise NotACertificate(str(exc)) from None
    start, _ = _expect(der, 0, _SEQUENCE)  # Certificate
    at, _ = _expect(der, start, _SEQUENCE)  # TBSCertificate
    tag, _, end = _element(der, at)
    if tag == _VERSION:
        at = end
    start, at = _expect(der, at, _INTEGER)
    serial = int.from_bytes(der[start:at], "big", signed=True)
    for _ in range(2):  # the signature algorithm, the issuer
        _, at = _expect(der, at, _SEQUENCE)
    at, _ = _expect(der, at, _SEQUENCE)  # validity
    _, at = _time(der, at)  # not before
    not_after, _ = _time(der, at)
    octets = serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big", signed=False)
    return CertificateInfo(octets.hex().upper(), not_after)
