"""``interlend report settlement --webhook``: the settlement reaches a real receiver,
signed with the configured secret, and a receiver that refuses is one line."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import trio

from adapters.billing.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from config.errors import ConfigError
from config.loader import load_consortium, resolve_secrets
from tests.gateway.reports.commands import DEMO_CONFIG, ByHand, report
from tests.helpers.webhook import RECEIVER_SECRET, Receiver, start_receiver

SECRET = RECEIVER_SECRET.decode()
"""The key in the configuration: the one the test receiver checks with."""
WEBHOOK_PATH = ("gateway", "reports", "webhook", "secret")


def _config(tmp_path: Path, url: str) -> str:
    """The demo consortium with a webhook whose secret is read from a file."""
    secret = tmp_path / "webhook.key"
    secret.write_text(SECRET, encoding="utf-8")
    path = tmp_path / "consortium.toml"
    path.write_text(
        Path(DEMO_CONFIG).read_text(encoding="utf-8")
        + f'\n[gateway.reports.webhook]\nurl = "{url}"\nsecret = {{ file = "{secret}" }}\n'
        "attempts = 3\nbackoff_s = 0.01\ntimeout_s = 5\n",
        encoding="utf-8",
    )
    return str(path)


async def test_the_settlement_is_posted_signed_to_the_configured_webhook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One failure, then the receiver takes the envelope; its signature checks out
    with the configured secret and covers the send time."""
    async with trio.open_nursery() as nursery:
        receiver: Receiver = await start_receiver(nursery, fail_first=1)
        config = _config(tmp_path, receiver.url)
        run = partial(report, "--period", "2026-11", "--config", config, "--webhook")
        with trio.fail_after(30):
            status = await trio.to_thread.run_sync(partial(run, settle=ByHand()))
        nursery.cancel_scope.cancel()
    assert status == 0
    assert len(receiver.received) == 2
    body, headers = receiver.received[-1]
    assert verify(SECRET.encode(), body, headers[SIGNATURE_HEADER.lower()])
    envelope = json.loads(body)
    assert envelope["schema"] == "interlend.webhook/1"
    assert envelope["event"] == "settlement"
    assert str(envelope["sent_at"]) == headers[TIMESTAMP_HEADER.lower()]
    assert envelope["settlement"]["transfers"][0] == {
        "payer": "alpha",
        "payee": "gamma",
        "amount_minor": 35_000,
    }
    out = capsys.readouterr()
    assert f"posted the settlement to {receiver.url} (HTTP 204, try 2)" in out.out
    assert SECRET not in out.out + out.err


async def test_a_receiver_that_refuses_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 4xx from the receiver: exit 1, the reason, never the secret."""
    async with trio.open_nursery() as nursery:
        receiver: Receiver = await start_receiver(nursery, fail_first=9, status_when_failing=422)
        config = _config(tmp_path, receiver.url)
        run = partial(report, "--period", "2026-11", "--config", config, "--webhook")
        with trio.fail_after(30):
            status = await trio.to_thread.run_sync(partial(run, settle=ByHand()))
        nursery.cancel_scope.cancel()
    assert status == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"interlend: webhook: {receiver.url} refused the document (HTTP 422)"
    )
    assert SECRET not in err


def test_the_webhook_needs_an_http_url_and_a_readable_secret(tmp_path: Path) -> None:
    """The configuration refuses another scheme, and a secret that cannot be read is
    reported like every other secret."""
    bad = _config(tmp_path, "ftp://accounts.example/hook")
    with pytest.raises(ConfigError, match=r"gateway\.reports\.webhook\.url"):
        load_consortium(bad, check_secrets=False)
    good = _config(tmp_path, "https://accounts.example/hook")
    (tmp_path / "webhook.key").unlink()
    _, issues = resolve_secrets(load_consortium(good, check_secrets=False))
    assert [i.path for i in issues if "reports" in i.path] == [
        ("gateway", "reports", "webhook", "secret")
    ]


async def test_an_empty_or_short_secret_signs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret file left empty (or a few characters) would sign with a key anyone can
    guess: one line naming the setting, exit 1, and nothing is posted; check-config's
    reading of the secrets says so too."""
    async with trio.open_nursery() as nursery:
        receiver: Receiver = await start_receiver(nursery)
        config = _config(tmp_path, receiver.url)
        (tmp_path / "webhook.key").write_text("\n", encoding="utf-8")
        run = partial(report, "--period", "2026-11", "--config", config, "--webhook")
        with trio.fail_after(30):
            status = await trio.to_thread.run_sync(partial(run, settle=ByHand()))
        nursery.cancel_scope.cancel()
    err = capsys.readouterr().err
    _, issues = resolve_secrets(load_consortium(config, check_secrets=False))
    assert status == 1
    assert receiver.received == []
    assert [i.path for i in issues if "reports" in i.path] == [WEBHOOK_PATH]
    assert "gateway.reports.webhook.secret" in err
    assert "shorter than 16 characters" in err
    assert "Traceback" not in err
