"""`interlend check-config` and `interlend hash-password` as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import config
from config.secrets import verify_password
from gateway.cli.main import main

DEMO = str(Path(config.__file__).parent / "demo.toml")
DAG = str(Path(config.__file__).parent / "examples" / "dag.toml")


def test_valid_file_prints_every_library_with_provenance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 0; a summary, then each library's settings with where they came from."""
    assert main(["check-config", DAG, "--no-secrets"]) == 0
    out = capsys.readouterr().out
    assert "valid — 2 consortia, 2 hybrid members, 3 member libraries" in out
    assert "border — Border Town Library (member, in north-region, south-region)" in out
    line = next(row for row in out.splitlines() if "circulation.loan_cap_per_owner" in row)
    assert "4" in line
    assert "most restrictive of north-region (4), south-region (7)" in line
    assert "every library sharing a consortium" in out
    assert "env:STATE_SIP2_PASSWORD" in out


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    """--json gives every node and each library's resolved settings for tools."""
    assert main(["check-config", DEMO, "--json", "--no-secrets"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    assert set(report["nodes"]) == {"demo", "alpha", "beta", "gamma"}
    fines = report["nodes"]["alpha"]["policy"]["circulation.block_fines_over"]
    assert fines == {
        "value": "10.00",
        "source": "demo",
        "reason": "inherited from demo, locked by demo",
        "locked_by": "demo",
    }
    assert "policy" not in report["nodes"]["demo"]
    assert report["nodes"]["beta"]["policy"]["ils.password"]["value"] == (
        "env:INTERLEND_DEMO_ILS_PASSWORD"
    )


def test_missing_secrets_fail_without_the_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret that cannot be read is an error (exit 1) unless --no-secrets."""
    monkeypatch.delenv("INTERLEND_DEMO_ILS_PASSWORD", raising=False)
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    assert main(["check-config", DEMO]) == 1
    err = capsys.readouterr().err
    assert "nodes.demo.ils.password: secret env:INTERLEND_DEMO_ILS_PASSWORD cannot be read" in err
    assert "demo.toml: 1 error" in err


def test_errors_with_positions_and_hints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each error on its own line with file:line:column, key path and hint; exit 1."""
    path = tmp_path / "bad.toml"
    path.write_text(
        '[nodes.top]\nkind = "consortium"\nname = "T"\ncirculation.loan_cap = 5\n', encoding="utf-8"
    )
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{path}:4:1: nodes.top.circulation.loan_cap: unknown key 'loan_cap' (hint: did you mean"
        in err
    )
    assert "Traceback" not in err


def test_json_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --json, errors are a list of objects on standard output."""
    path = tmp_path / "bad.toml"
    path.write_text('[nodes.top]\nkind = "consortium"\n', encoding="utf-8")
    assert main(["check-config", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert report["errors"] == [
        {
            "file": str(path),
            "line": 1,
            "column": 1,
            "path": "nodes.top.name",
            "message": "this key is required",
            "hint": "",
        }
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the file: No such file or directory"),
        (b'[nodes.top\nkind = "x"', ":1:11: TOML syntax error"),
        (b"\xff\xfe", "is not UTF-8"),
    ],
    ids=["missing file", "TOML syntax", "not UTF-8"],
)
def test_no_traceback_for_bad_input(tmp_path: Path, content: bytes | None, expected: str) -> None:
    """A missing file, bad TOML or a binary file: one clear line, exit 1, no traceback."""
    path = tmp_path / "interlend.toml"
    if content is not None:
        path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_a_closed_pipe_is_not_a_traceback() -> None:
    """`interlend check-config … | head -1` ends quietly when the reader goes away."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "check-config", DAG, "--no-secrets"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline()
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err


def test_hash_password_reads_stdin() -> None:
    """The hash printed verifies the password given on standard input."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "hash-password"],
        input="kiosk secret\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stored = result.stdout.strip()
    assert verify_password("kiosk secret", stored)
    assert "kiosk secret" not in result.stdout


def test_hash_password_refuses_empty() -> None:
    """An empty password is refused."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "hash-password"],
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "empty password" in result.stderr


COSTS = str(Path(config.__file__).parent / "examples" / "cost-sharing.toml")


def test_cost_plans_and_who_owns_what(capsys: pytest.CaptureFixture[str]) -> None:
    """After the policies: each plan's costs, each jointly owned collection, and each
    co-owner's share; --json gives the same for tools."""
    assert main(["check-config", COSTS, "--no-secrets"]) == 0
    out = capsys.readouterr().out
    assert "cost sharing of valley (EUR, 4 libraries)" in out
    assert "  cost servers (airport)" in out
    assert (
        "collection repository — Valley Shared Print Repository: held by lakeside "
        "(items 333009*); owned by lakeside 50%, riverside 25%, mill 25%; retention: last-copy"
    ) in out
    assert "  mill owns repository (25%)" in out
    assert main(["check-config", COSTS, "--json", "--no-secrets"]) == 0
    plans = json.loads(capsys.readouterr().out)["cost_plans"]
    assert plans["print"]["collections"][0]["owners"] == {
        "lakeside": "0.5",
        "riverside": "0.25",
        "mill": "0.25",
    }
    assert plans["valley"]["costs"][0] == {
        "name": "ils-hosting",
        "formula": "base-plus-drivers",
        "libraries": ["hilltop", "riverside", "lakeside", "mill"],
    }


def test_a_cost_mistake_is_one_line_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A driver a library lacks is reported at the library's key, with a hint."""
    text = (
        Path(COSTS)
        .read_text(encoding="utf-8")
        .replace("cost.drivers = { fte = 3, patrons = 6000 }", "cost.drivers = { fte = 3 }")
    )
    broken = tmp_path / "costs.toml"
    broken.write_text(text, encoding="utf-8")
    assert main(["check-config", str(broken), "--no-secrets"]) == 1
    err = capsys.readouterr().err
    assert "nodes.mill.cost.drivers: library mill has no figure 'patrons'" in err
    assert "costs.toml:" in err
    assert "Traceback" not in err
