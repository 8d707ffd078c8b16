"""SSL contexts from the configuration, and a listener's reloadable certificate.

``server_context(settings)`` is a listener's context: its certificate and key, TLS 1.2
at least (``min_version``), and the client CA when clients' certificates are checked
(``require_client_cert``).  ``client_context(ca, cert, key)`` is the gateway's as a
client of a member ILS: the server is verified against ``ca`` (or the system's trust
store) and its name checked, and with ``cert`` and ``key`` the gateway presents a
client certificate of its own.

Every way a file can be unusable becomes a ``TlsFileError`` naming the setting
(``cert``, ``key``, ``client_ca``, ``ca``), what is wrong and what to do: a file
missing or unreadable, a certificate file without a PEM certificate, a key that is
not a key, is encrypted (a daemon has no one to type its pass phrase) or does not
match the certificate, a certificate already expired.  The messages carry paths and
OpenSSL's reason, never a byte of a key.

``ServerTls`` keeps one listener's context and swaps it on ``reload()``: the new files
are loaded into a fresh context first, so a bad file leaves the one in force serving.
Connections the gateway wraps itself (SIP2) take ``current``; a server that keeps one
context for its listener (hypercorn) takes ``listener_context``, whose SNI callback
(run by OpenSSL for every handshake, with or without SNI) moves each new connection to
``current``.  Connections already open keep the certificate they started with.
"""

from __future__ import annotations

import re
import ssl
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.tls.certificate import CertificateInfo, NotACertificate, read_certificate

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from config.models import TlsSettings, TlsVersionName

__all__ = [
    "CertificateInfo",
    "ServerTls",
    "TlsFileError",
    "client_context",
    "server_context",
]

_VERSIONS: dict[TlsVersionName, ssl.TLSVersion] = {
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


class TlsFileError(Exception):
    """A TLS setting whose file cannot be used.

    Args:
        setting: The setting's name in its table (``cert``, ``key``, ``client_ca``, ``ca``).
        message: What is wrong (with the path).
        hint: What to do about it.
    """

    def __init__(self, setting: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.setting = setting
        self.message = message
        self.hint = hint


class _Encrypted(Exception):
    """Raised by the pass-phrase callback: the key file is encrypted."""


def _refuse_pass_phrase() -> str:
    raise _Encrypted


def _readable(setting: str, path: Path, *, read: bool = False) -> bytes:
    """The file's bytes (``read``: a certificate), or only a check that it opens (a key
    is never read here); a ``TlsFileError`` says why it cannot be read."""
    try:
        with path.open("rb") as file:
            return file.read() if read else b""
    except FileNotFoundError:
        raise TlsFileError(
            setting, f"{path} does not exist", "give the path of a PEM file"
        ) from None
    except IsADirectoryError:
        raise TlsFileError(setting, f"{path} is a directory, not a file") from None
    except PermissionError:
        raise TlsFileError(
            setting,
            f"{path} cannot be read: permission denied",
            "let the gateway's user read it (and no one else, for a key)",
        ) from None
    except OSError as exc:
        raise TlsFileError(setting, f"{path} cannot be read: {exc.strerror or exc}") from None


def _reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason, in words (``KEY_VALUES_MISMATCH`` → ``key values mismatch``)."""
    if exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    text = str(exc.args[-1] if exc.args else exc)
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text) or type(exc).__name__


def _first_certificate(setting: str, path: Path) -> CertificateInfo:
    """The first certificate of a PEM file (the leaf of a chain)."""
    data = _readable(setting, path, read=True)
    try:
        return read_certificate(data.decode("ascii", "replace"))
    except NotACertificate as exc:
        raise TlsFileError(
            setting,
            f"{path} holds no readable PEM certificate ({exc})",
            "a certificate file starts with -----BEGIN CERTIFICATE-----",
        ) from None


def _load_ca(context: ssl.SSLContext, setting: str, path: Path) -> None:
    _readable(setting, path)
    try:
        context.load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        raise TlsFileError(
            setting,
            f"{path} holds no usable CA certificate ({_reason(exc)})",
            "give a PEM file of CA certificates",
        ) from None


def _load_certificate(
    context: ssl.SSLContext, cert: Path, key: Path, now: datetime | None
) -> CertificateInfo:
    """Load a certificate and its key into ``context`` (settings ``cert`` and ``key``).

    Raises:
        TlsFileError: Either cannot be used: missing, unreadable, not PEM, expired, an
            encrypted key, a key of another certificate.
    """
    certificate = _first_certificate("cert", cert)
    if certificate.not_after <= (now or datetime.now(UTC)):
        raise TlsFileError(
            "cert",
            f"{cert} expired on {certificate.not_after:%Y-%m-%d %H:%M} UTC",
            "renew it; the gateway reloads certificates on SIGHUP",
        )
    _readable("key", key)
    try:
        context.load_cert_chain(cert, key, password=_refuse_pass_phrase)
    except _Encrypted:
        raise TlsFileError(
            "key",
            f"{key} is encrypted: a daemon cannot type its pass phrase",
            "store it unencrypted (`openssl pkey -in KEY -out PLAIN`), readable only by "
            "the gateway's user",
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsFileError(
                "key",
                f"{key} is not the key of the certificate {cert}",
                "give the private key the certificate was issued for",
            ) from None
        why = "not a PEM private key" if exc.reason in (None, "PEM_LIB") else _reason(exc)
        raise TlsFileError(
            "key",
            f"{key} holds no usable private key ({why})",
            "give the PEM private key the certificate was issued for",
        ) from None
    return certificate


def server_context(
    settings: TlsSettings, *, alpn: Sequence[str] = (), now: datetime | None = None
) -> tuple[ssl.SSLContext, CertificateInfo]:
    """A listener's context and the certificate it serves.

    Args:
        settings: The listener's ``tls`` table.
        alpn: Application protocols to offer (hypercorn's ``h2``, ``http/1.1``).
        now: The time the certificate must not have expired by (the current time).

    Raises:
        TlsFileError: A file cannot be used (see the module documentation).
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = _VERSIONS[settings.min_version]
    context.options |= ssl.OP_NO_COMPRESSION
    if alpn:
        context.set_alpn_protocols(list(alpn))
    certificate = _load_certificate(context, settings.cert, settings.key, now)
    if settings.client_ca is not None:
        _load_ca(context, "client_ca", settings.client_ca)
        context.verify_mode = (
            ssl.CERT_REQUIRED if settings.requires_client_cert else ssl.CERT_OPTIONAL
        )
    return context, certificate


def client_context(
    ca: Path | None, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """The gateway's context as a client of a member ILS: the server's certificate is
    verified against ``ca`` (``None``: the system's trust store) and its name checked;
    with ``cert`` and ``key``, the gateway presents that client certificate.

    Raises:
        TlsFileError: A file cannot be used (settings ``ca``, ``cert``, ``key``), or
            only one of ``cert`` and ``key`` is given.
    """
    if (cert is None) != (key is None):
        setting = "key" if key is None else "cert"
        raise TlsFileError(
            setting,
            "a client certificate needs both cert and key",
            f"set {setting} too, or neither",
        )
    if ca is None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        # Verifies certificates and names as the default context does, trusting ``ca`` only.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _load_ca(context, "ca", ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    if cert is not None and key is not None:
        _load_certificate(context, cert, key, None)
    return context


class ServerTls:
    """One listener's TLS: its settings, the context for new connections, and reload.

    Args:
        name: The listener's TLS table, as the configuration names it
            (``gateway.sip2[0].tls``).
        settings: Its ``tls`` table.
        alpn: Application protocols to offer.

    Raises:
        TlsFileError: A file cannot be used.
    """

    def __init__(self, name: str, settings: TlsSettings, *, alpn: Sequence[str] = ()) -> None:
        self.name = name
        self.settings = settings
        self._alpn = tuple(alpn)
        self.current, self.certificate = server_context(settings, alpn=self._alpn)
        self._listening = self.current
        self._listening.sni_callback = self._move_to_current

    @property
    def listener_context(self) -> ssl.SSLContext:
        """The context to give a server that keeps one for its listener: each new
        connection is moved to ``current`` during its handshake."""
        return self._listening

    def _move_to_current(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        if self.current is not self._listening:
            connection.context = self.current

    def reload(self) -> CertificateInfo:
        """Read the files again; new connections get them once they are all good.

        Raises:
            TlsFileError: A file cannot be used; the context in force is kept.
        """
        self.current, self.certificate = server_context(self.settings, alpn=self._alpn)
        return self.certificate
