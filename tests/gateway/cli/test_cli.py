"""The interlend command line as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway import __version__
from gateway.cli.main import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_selfcheck_runs() -> None:
    """`python -m gateway selfcheck` passes every check and logs JSON without secrets."""
    result = run("selfcheck")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines[-1]["event"] == "self-check passed"
    assert lines[-1]["checks"] >= 15
    assert not [line for line in lines if line["level"] == "error"]
    assert "CO***" in result.stderr
    assert "AD***" in result.stderr
    assert "|COdemo|" not in result.stderr
    assert "AD1234" not in result.stderr


def test_version() -> None:
    """--version prints the distribution version."""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command the CLI explains its usage and exits with 2."""
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_selfcheck_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """main(["selfcheck"]) returns 0 when the self-check passes."""
    assert main(["--log-format", "json", "selfcheck"]) == 0
    assert "self-check passed" in capsys.readouterr().err


def test_version_string() -> None:
    """The package version is a PEP 440 development version for now."""
    assert __version__.startswith("0.1.0")


def test_selfcheck_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing check makes the self-check exit 1 and name the check."""
    import gateway.demo.selfcheck

    monkeypatch.setitem(gateway.demo.selfcheck.GOLDEN_CHECKSUMS, b"97AZ", b"0000")
    assert main(["--log-format", "json", "selfcheck"]) == 1
    err = capsys.readouterr().err
    assert "check failed" in err
    assert "checksum 97AZ" in err
