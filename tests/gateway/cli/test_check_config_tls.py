"""TLS files named by a configuration, checked by `interlend check-config` and refused
when the gateway loads it, before anything starts: each unusable file is one issue
with its file position, key and hint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from config.errors import ConfigError, format_path
from gateway.app.daemon import Gateway
from gateway.cli.main import main
from tests.helpers.cli import ROOT
from tests.helpers.tls import Authority

if TYPE_CHECKING:
    from pathlib import Path

DEMO_TOML = ROOT / "config" / "demo.toml"
ENV = {"INTERLEND_DEMO_ILS_PASSWORD": "pw", "INTERLEND_DEMO_NCIP_KEY": "key"}


def _write(tmp_path: Path, sip2: str, admin: str, ca: Path) -> Path:
    text = DEMO_TOML.read_text(encoding="utf-8").replace(
        'ils.endpoints = ["127.0.0.1:7101"]',
        f'ils.endpoints = ["tls://127.0.0.1:7101"]\nils.tls.ca = "{ca}"',
    )
    text += (
        f"\n[gateway]\nadmin = {{ port = 0, tls = {{ {admin} }} }}\n"
        f"\n[[gateway.sip2]]\nport = 0\ntls = {{ {sip2} }}\n"
    )
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A configuration whose SIP2 certificate is missing, whose admin key belongs to
    another certificate and whose member CA file holds a key, not a CA."""
    authority = Authority.new(tmp_path / "pki")
    cert, key = authority.issue("gateway")
    _, stray = authority.issue("stray")
    return _write(
        tmp_path,
        sip2=f'cert = "{tmp_path / "absent.pem"}", key = "{key}"',
        admin=f'cert = "{cert}", key = "{stray}"',
        ca=key,
    )


def test_check_config_names_each_unusable_tls_file(
    broken: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(broken)]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert any(
        line.startswith(f"{broken}:")
        and "gateway.sip2[0].tls.cert:" in line
        and "absent.pem does not exist" in line
        for line in lines
    ), err
    assert any(
        "gateway.admin.tls.key:" in line and "is not the key of the certificate" in line
        for line in lines
    ), err
    assert any(
        "nodes.alpha.ils.tls.ca:" in line and "holds no usable CA certificate" in line
        for line in lines
    ), err
    assert f"{broken}: 3 errors" in err
    assert "BEGIN" not in err  # paths only, never key material
    assert "Traceback" not in err


def test_no_secrets_leaves_the_machine_s_files_unchecked(
    broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(broken), "--no-secrets"]) == 0
    assert "ils.tls.ca" in capsys.readouterr().out


def test_a_good_tls_configuration_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    authority = Authority.new(tmp_path / "pki")
    cert, key = authority.issue("gateway")
    files = f'cert = "{cert}", key = "{key}"'
    path = _write(
        tmp_path,
        sip2=f'{files}, client_ca = "{authority.ca_file}"',
        admin=files,
        ca=authority.ca_file,
    )
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out
    assert str(authority.ca_file) in out


def test_the_gateway_refuses_to_start_with_an_unusable_tls_file(
    broken: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``interlend serve`` loads (it prints each issue and "nothing started", as
    ``test_daemon.py`` shows for any configuration error)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        Gateway.from_file(broken)
    keys = {format_path(issue.path) for issue in refused.value.issues}
    assert keys == {"gateway.sip2[0].tls.cert", "gateway.admin.tls.key", "nodes.alpha.ils.tls.ca"}
    assert all(issue.line is not None for issue in refused.value.issues)


def test_a_client_certificate_without_its_key_is_named_for_each_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ils.tls.cert`` set for the whole consortium and no ``key``: each member that
    inherits it is told, once."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    cert, _ = Authority.new(tmp_path / "pki").issue("gateway-client")
    text = DEMO_TOML.read_text(encoding="utf-8").replace(
        "ils.timeout_s = 5.0", f'ils.timeout_s = 5.0\nils.tls.cert = "{cert}"'
    )
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    for member in ("alpha", "beta", "gamma"):
        assert f"nodes.{member}.ils.tls.key: a client certificate needs both cert and key" in err
    assert f"{path}: 3 errors" in err
