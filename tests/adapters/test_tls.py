"""TLS contexts from the configuration: what a listener and a member client get, every
way a file can be unusable (with the setting it is reported at), the certificate's
serial and expiry, reload, and handshakes that fail for a reason."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pydantic
import pytest
import trio
import trio.testing

from adapters.tls import (
    HandshakeFailed,
    ServerTls,
    TlsFileError,
    accept_tls,
    client_context,
    server_context,
)
from adapters.tls.certificate import NotACertificate, read_certificate
from config.models import TlsSettings
from tests.helpers.tls import Authority, serial_of

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.new(tmp_path / "pki")


def settings(cert: Path, key: Path, **more: object) -> TlsSettings:
    return TlsSettings.model_validate({"cert": cert, "key": key, **more})


def test_a_listener_context_takes_tls_1_2_at_least_and_checks_clients_as_configured(
    authority: Authority,
) -> None:
    """No client CA: no client certificate asked; a client CA: required unless
    ``require_client_cert = false`` says presented ones are checked only."""
    cert, key = authority.issue("gateway")
    plain, info = server_context(settings(cert, key))
    required, _ = server_context(settings(cert, key, client_ca=authority.ca_file))
    optional, _ = server_context(
        settings(cert, key, client_ca=authority.ca_file, require_client_cert=False)
    )
    newest, _ = server_context(settings(cert, key, min_version="1.3"))
    assert plain.minimum_version == ssl.TLSVersion.TLSv1_2
    assert newest.minimum_version == ssl.TLSVersion.TLSv1_3
    assert plain.verify_mode == ssl.CERT_NONE
    assert required.verify_mode == ssl.CERT_REQUIRED
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    assert info.not_after > datetime.now(UTC)


def test_require_client_cert_without_a_ca_is_refused_by_the_model(authority: Authority) -> None:
    cert, key = authority.issue("gateway")
    with pytest.raises(pydantic.ValidationError, match="require_client_cert needs client_ca"):
        settings(cert, key, require_client_cert=True)


def _mismatched(authority: Authority) -> dict[str, object]:
    cert, _ = authority.issue("one")
    _, other_key = authority.issue("two")
    return {"cert": cert, "key": other_key}


def _missing(authority: Authority) -> dict[str, object]:
    _, key = authority.issue("one")
    return {"cert": authority.folder / "absent.pem", "key": key}


def _key_as_certificate(authority: Authority) -> dict[str, object]:
    _, key = authority.issue("one")
    return {"cert": key, "key": key}


def _certificate_as_key(authority: Authority) -> dict[str, object]:
    cert, _ = authority.issue("one")
    return {"cert": cert, "key": cert}


def _directory(authority: Authority) -> dict[str, object]:
    cert, _ = authority.issue("one")
    return {"cert": cert, "key": authority.folder}


def _not_a_directory(authority: Authority) -> dict[str, object]:
    cert, _ = authority.issue("one")
    return {"cert": cert, "key": cert / "key.pem"}


def _expired(authority: Authority) -> dict[str, object]:
    cert, key = authority.issue("old", not_after=datetime.now(UTC) - timedelta(days=1))
    return {"cert": cert, "key": key}


def _bad_client_ca(authority: Authority) -> dict[str, object]:
    cert, key = authority.issue("one")
    return {"cert": cert, "key": key, "client_ca": key}


@pytest.mark.parametrize(
    ("files", "setting", "message"),
    [
        (_mismatched, "key", "is not the key of the certificate"),
        (_missing, "cert", "absent.pem does not exist"),
        (_key_as_certificate, "cert", "holds no readable PEM certificate"),
        (_certificate_as_key, "key", "holds no usable private key (not a PEM private key)"),
        (_directory, "key", "is a directory"),
        (_not_a_directory, "key", "cannot be read: Not a directory"),
        (_expired, "cert", "expired on"),
        (_bad_client_ca, "client_ca", "holds no usable CA certificate"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_each_unusable_file_is_named_with_its_setting(
    authority: Authority, files: object, setting: str, message: str
) -> None:
    assert callable(files)
    with pytest.raises(TlsFileError) as raised:
        server_context(TlsSettings.model_validate(files(authority)))
    assert raised.value.setting == setting
    assert message in raised.value.message
    assert "PRIVATE KEY" not in str(raised.value)  # paths, never key material


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_key_is_named(authority: Authority) -> None:
    cert, key = authority.issue("one")
    key.chmod(0)
    with pytest.raises(TlsFileError, match="permission denied") as raised:
        server_context(settings(cert, key))
    assert raised.value.setting == "key"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_an_encrypted_key_is_refused_without_asking_for_a_pass_phrase(
    authority: Authority,
) -> None:
    """A daemon has no terminal: an encrypted key is an error, never a prompt."""
    cert, key = authority.issue("one")
    locked = authority.folder / "locked.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-out", str(locked), "-aes256", "-passout", "pass:x"],
        check=True,
        capture_output=True,
    )
    with pytest.raises(TlsFileError, match="is encrypted") as raised:
        server_context(settings(cert, locked))
    assert raised.value.setting == "key"


def test_a_client_context_trusts_the_configured_ca_only(authority: Authority) -> None:
    mine = client_context(authority.ca_file)
    system = client_context(None)
    assert mine.verify_mode == ssl.CERT_REQUIRED
    assert mine.check_hostname
    assert mine.minimum_version == ssl.TLSVersion.TLSv1_2
    assert mine.cert_store_stats()["x509_ca"] == 1
    assert system.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(TlsFileError, match="does not exist") as raised:
        client_context(authority.folder / "absent-ca.pem")
    assert raised.value.setting == "ca"


def test_a_client_certificate_needs_its_key_and_must_match_it(authority: Authority) -> None:
    cert, key = authority.issue("client")
    _, stray = authority.issue("stray")
    presenting = client_context(authority.ca_file, cert, key)
    with pytest.raises(TlsFileError, match="needs both cert and key") as alone:
        client_context(None, cert, None)
    with pytest.raises(TlsFileError, match="is not the key of the certificate") as mismatched:
        client_context(authority.ca_file, cert, stray)
    assert presenting.verify_mode == ssl.CERT_REQUIRED
    assert alone.value.setting == "key"
    assert mismatched.value.setting == "key"


def test_the_certificate_read_is_the_one_a_client_is_served(authority: Authority) -> None:
    """Serial and expiry as OpenSSL itself decodes them for a peer."""
    cert, _ = authority.issue("one", not_after=datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC))
    info = read_certificate(cert.read_text())
    assert info.serial == serial_of(cert)
    assert info.not_after == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----",
    ],
    ids=["empty", "not-a-sequence", "truncated-inside", "length-past-the-end"],
)
def test_text_that_is_not_a_certificate_is_said_to_be_so(text: str) -> None:
    with pytest.raises(NotACertificate):
        read_certificate(text)


def test_a_reload_swaps_the_certificate_only_when_the_new_files_are_good(
    authority: Authority,
) -> None:
    cert, key = authority.issue("gateway")
    tls = ServerTls("gateway.sip2[0].tls", settings(cert, key))
    first, stable = tls.current, tls.listener_context
    fresh_cert, fresh_key = authority.issue("fresh")
    shutil.copy(fresh_cert, cert)
    shutil.copy(fresh_key, key)
    info = tls.reload()
    assert tls.current is not first
    assert tls.listener_context is stable  # what hypercorn keeps; SNI moves connections
    assert info.serial == read_certificate(fresh_cert.read_text()).serial
    _, stray_key = authority.issue("stray")
    shutil.copy(stray_key, key)
    with pytest.raises(TlsFileError, match="is not the key"):
        tls.reload()
    assert tls.certificate == info  # the good one stays in force


async def test_a_silent_client_is_let_go_when_the_handshake_time_is_up(
    authority: Authority, autojump_clock: trio.testing.MockClock
) -> None:
    tls = ServerTls("t", authority.tls("gateway", handshake_timeout_s=3))
    server, _client = trio.testing.memory_stream_pair()
    started = trio.current_time()
    with pytest.raises(HandshakeFailed) as failed:
        await accept_tls(server, tls)
    assert failed.value.kind == "timeout"
    assert trio.current_time() - started == pytest.approx(3)


async def test_a_client_speaking_plain_sip2_to_a_tls_port_fails_as_not_tls(
    authority: Authority,
) -> None:
    tls = ServerTls("t", authority.tls("gateway"))
    server, client = trio.testing.memory_stream_pair()
    await client.send_all(b"9300CNkiosk|COdemo|\r")
    with trio.fail_after(5), pytest.raises(HandshakeFailed) as failed:
        await accept_tls(server, tls)
    assert failed.value.kind == "not_tls"
