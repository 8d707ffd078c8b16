"""`interlend send` options for TLS that cannot be used: one line each, exit 2, before
anything is sent (a working TLS session is in ``tests/gateway/app/test_tls.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gateway.cli.main import main

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["127.0.0.1:9", "--ca", "ca.pem"], "TLS options need a tls://HOST:PORT address"),
        (["tls://127.0.0.1:9", "--cert", "c.pem"], "--cert and --key go together"),
        (
            ["tls://127.0.0.1:9", "--ca", "{tmp}/absent.pem"],
            "--ca: {tmp}/absent.pem does not exist",
        ),
        (
            ["tls://127.0.0.1:9", "--cert", "{tmp}/c.pem", "--key", "{tmp}/k.pem"],
            "--cert/--key cannot be used: No such file or directory",
        ),
        (["tls://nowhere", "--ca", "ca.pem"], "is not HOST:PORT or tls://HOST:PORT"),
    ],
    ids=["plain-address", "cert-alone", "missing-ca", "missing-cert", "no-port"],
)
def test_unusable_tls_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    filled = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    assert main(["send", *filled, "9900302.00"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message.replace("{tmp}", str(tmp_path)) in err
