"""The daemon reads the secrets it uses, and only those: a secret that only a command
reads (the settlement webhook's, for ``report settlement --webhook``; the libraries'
delegated chain keys, for ``ledger settle``) need not be, and is not, in the daemon's
environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.loader import load_consortium, resolve_secrets
from gateway.app.daemon import Gateway
from gateway.cli.main import main
from tests.helpers.cli import ROOT

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

LEDGER_KEY = "0x" + "11" * 32


def _config(tmp_path: Path) -> Path:
    text = (ROOT / "config" / "demo.toml").read_text(encoding="utf-8")
    text += (
        "\n[gateway.reports.webhook]\n"
        'url = "https://accounts.example.org/interlend"\n'
        'secret = { env = "TEST_WEBHOOK_SECRET_UNSET" }\n'
        "\n[gateway.ledger]\n"
        'backend = "evm"\n'
        'rpc_url = "http://127.0.0.1:1"\n'
        'contract = "0x' + "22" * 20 + '"\n'
        'key = { env = "TEST_LEDGER_KEY" }\n'
        'library_keys = { beta = { env = "TEST_BETA_KEY_UNSET" } }\n'
    )
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_daemon_starts_without_the_secrets_only_commands_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "ncip-key")
    monkeypatch.setenv("TEST_LEDGER_KEY", LEDGER_KEY)
    monkeypatch.delenv("TEST_WEBHOOK_SECRET_UNSET", raising=False)
    monkeypatch.delenv("TEST_BETA_KEY_UNSET", raising=False)
    path = _config(tmp_path)
    gateway = Gateway.from_file(path, handle_signals=False)
    # check-config still reads every secret: run where the commands run, it says so.
    _, issues = resolve_secrets(load_consortium(path, check_secrets=False))
    assert gateway.secrets.ledger_key == LEDGER_KEY
    assert sorted(i.path for i in issues) == [
        ("gateway", "ledger", "library_keys", "beta"),
        ("gateway", "reports", "webhook", "secret"),
    ]


def test_serve_workers_reads_the_same_secrets_as_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The supervisor's own check of the file skips the same secrets: with the webhook's
    and beta's keys unset, what stops ``serve --workers 2`` here is the in-memory store,
    not a secret it would never read."""
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "ncip-key")
    monkeypatch.setenv("TEST_LEDGER_KEY", LEDGER_KEY)
    monkeypatch.delenv("TEST_WEBHOOK_SECRET_UNSET", raising=False)
    monkeypatch.delenv("TEST_BETA_KEY_UNSET", raising=False)
    status = main(["serve", "--config", str(_config(tmp_path)), "--workers", "2"])
    err = capsys.readouterr().err
    assert status == 2
    assert "needs a shared state store" in err
