"""Certificates made by the test: a certificate authority of its own (``trustme``),
certificates and keys written as PEM files where the configuration can name them,
and what a client needs to trust them or to present one."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio
import trustme

from config.models import TlsSettings

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["Authority", "serial_of", "served_serial"]


@dataclass
class Authority:
    """A test CA whose files live in ``folder``."""

    folder: Path
    ca: trustme.CA

    @classmethod
    def new(cls, folder: Path) -> Authority:
        folder.mkdir(parents=True, exist_ok=True)
        authority = cls(folder, trustme.CA())
        authority.ca.cert_pem.write_to_path(str(authority.ca_file))
        return authority

    @property
    def ca_file(self) -> Path:
        return self.folder / f"ca-{id(self)}.pem"

    def issue(
        self, name: str, *identities: str, not_after: datetime | None = None
    ) -> tuple[Path, Path]:
        """A certificate for ``identities`` (``127.0.0.1`` unless given) and its key,
        written as ``<name>.pem`` and ``<name>.key``."""
        leaf = self.ca.issue_cert(*(identities or ("127.0.0.1",)), not_after=not_after)
        cert, key = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        return cert, key

    def tls(self, name: str, *identities: str, **settings: object) -> TlsSettings:
        """A listener's ``tls`` table with a new certificate."""
        cert, key = self.issue(name, *identities)
        return TlsSettings.model_validate({"cert": cert, "key": key, **settings})

    def client(self, certificate: str | None = None) -> ssl.SSLContext:
        """A client context that trusts this CA; with ``certificate``, presenting a
        client certificate for that name."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        if certificate is not None:
            self.ca.issue_cert(certificate).configure_cert(context)
        return context


def serial_of(cert: Path) -> str:
    """The serial number of a certificate file, in hex as OpenSSL writes it, read
    by OpenSSL itself (an independent check of ``adapters.tls.certificate``)."""
    decoded = ssl._ssl._test_decode_cert(str(cert))  # type: ignore[attr-defined]
    return str(decoded["serialNumber"])


async def served_serial(
    host: str, port: int, context: ssl.SSLContext, server_name: str | None = None
) -> str:
    """The serial number of the certificate a TLS listener serves now (verified)."""
    stream = await trio.open_tcp_stream(host, port)
    secure = trio.SSLStream(stream, context, server_hostname=server_name or host)
    try:
        await secure.do_handshake()
        served: dict[str, object] | None = secure.getpeercert()
    finally:
        await trio.aclose_forcefully(secure)
    assert served is not None
    return str(served["serialNumber"])
