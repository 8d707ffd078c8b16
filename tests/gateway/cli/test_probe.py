"""``interlend probe-ils``: the report and configuration lines, from the simulated ILSs.

The simulators run in the test's trio loop; the command runs as a user runs it
(``main``), in a worker thread with a trio loop of its own.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

from gateway.cli.main import main
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import serve_simulator_ncip
from gateway.demo.simulator.sip2_server import serve_simulator
from protocols.sip2 import Dialect, ErrorDetection, Terminator
from tests.helpers.members import PASSWORD_ENV, write_config

if TYPE_CHECKING:
    from pathlib import Path

PIN_ENV = "PROBE_TEST_PIN"


def _config(tmp_path: Path, sip2: str, ncip: str) -> str:
    return write_config(tmp_path / "interlend.toml", alpha=sip2, beta=ncip)


async def _run(*argv: str) -> int:
    status: int = await trio.to_thread.run_sync(main, ["--log-format", "json", *argv])
    return status


async def test_probe_sip2_and_ncip_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIP2 member in a CRLF, checksums-required dialect and an NCIP member: each
    report names what was found and ends with the lines to configure; the PIN is never
    printed."""
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    monkeypatch.setenv(PIN_ENV, "1234")
    alpha = SimulatedIls(packaged_library("alpha"), "s3cret")
    beta = SimulatedIls(packaged_library("beta"), "s3cret")
    dialect = Dialect(strict=True, terminator=Terminator.CRLF)
    async with trio.open_nursery() as nursery:
        sip2 = await nursery.start(
            partial(
                serve_simulator, alpha, dialect=dialect, error_detection=ErrorDetection.REQUIRED
            )
        )
        ncip = await nursery.start(serve_simulator_ncip, beta)
        config = _config(tmp_path, f"{sip2[0]}:{sip2[1]}", f"http://{ncip[0]}:{ncip[1]}/ncip")
        with trio.fail_after(30):
            sip2_status = await _run(
                "probe-ils", "alpha", "--config", config, "--patron", "21001000000001",
                "--pin-env", PIN_ENV, "--item", "31001000000001",
            )  # fmt: skip
            sip2_out = capsys.readouterr().out
            ncip_status = await _run(
                "probe-ils", "beta", "--config", config, "--patron", "21002000000001",
                "--pin-env", PIN_ENV, "--item", "31002000000404",
            )  # fmt: skip
            ncip_out = capsys.readouterr().out
        nursery.cancel_scope.cancel()
    assert sip2_status == 0, sip2_out
    assert "login (93)       accepted" in sip2_out
    assert "test patron      known, PIN right, no blocks" in sip2_out
    assert "test item        status 03 available" in sip2_out
    assert 'ils.dialect.terminator = "CRLF"' in sip2_out
    assert 'ils.dialect.error_detection = "required"' in sip2_out
    assert 'ils.institution_id = "alpha"' in sip2_out
    assert "1234" not in sip2_out
    assert ncip_status == 0, ncip_out
    assert "LookupAgency     agency beta, 'Beta Public Library'" in ncip_out
    assert "LookupUser       known, PIN right" in ncip_out
    assert "LookupItem       NOT known" in ncip_out
    assert 'ils.ncip.to_agency = "beta"' in ncip_out
    assert "1234" not in ncip_out


async def test_probe_reports_a_dead_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening: exit 1 with the reason, and no configuration lines."""
    from tests.helpers.services import dead_port

    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    port = dead_port()
    config = _config(tmp_path, f"127.0.0.1:{port}", "http://127.0.0.1:1/ncip")
    with trio.fail_after(30):
        status = await _run("probe-ils", "alpha", "--config", config, "--timeout", "2")
    out = capsys.readouterr().out
    assert status == 1
    assert f"PROBLEM          cannot connect to 127.0.0.1:{port}" in out
    assert "Configuration for this member" not in out


@pytest.mark.parametrize(
    ("argv", "env", "message", "status"),
    [
        (["delta"], {PASSWORD_ENV: "x"}, "'delta' is not a library", 1),
        (["alpha"], {}, f"ils.password (env:{PASSWORD_ENV}) cannot be read", 1),
        (["alpha", "--pin-env", "NOT_SET_ANYWHERE"], {}, "NOT_SET_ANYWHERE is not set", 2),
        (["alpha", "--pin-env", PIN_ENV], {PIN_ENV: "1"}, "--pin-env needs --patron", 2),
        (["alpha", "--timeout", "0"], {}, "--timeout must be more than 0", 2),
        (["alpha", "--endpoint", "nowhere"], {PASSWORD_ENV: "x"}, "'nowhere' is not host:port", 2),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    message: str,
    status: int,
) -> None:
    """Each mistake gets one line on standard error and its exit status, no traceback."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = _config(tmp_path, "127.0.0.1:1", "http://127.0.0.1:1/ncip")
    assert main(["probe-ils", *argv, "--config", config]) == status
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (None, 'ils.dialect.timezone = "UTC"   # its local time could not be read'),
        (0, 'ils.dialect.timezone = "UTC"   # its local time is UTC now'),
        (3600, 'ils.dialect.timezone = "Etc/GMT-1"   # its clock reads UTC+01:00 now'),
        (-5 * 3600, 'ils.dialect.timezone = "Etc/GMT+5"   # its clock reads UTC-05:00 now'),
        (19800, 'ils.dialect.timezone = "UTC"   # its clock reads UTC+05:30 now'),
    ],
)
def test_timezone_line(offset: int | None, expected: str) -> None:
    """A whole-hour offset becomes an Etc zone (whose sign is inverted); others a hint."""
    from gateway.cli.probe_report import timezone_line

    assert timezone_line(offset).startswith(expected)


def test_an_ncip_member_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LookupAgency fails: the reason, exit 1, nothing else asked, no configuration."""
    from tests.helpers.services import dead_port

    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    url = f"http://127.0.0.1:{dead_port()}/ncip"
    config = _config(tmp_path, "127.0.0.1:1", url)
    assert main(["probe-ils", "beta", "--config", config, "--patron", "21002000000001"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM          LookupAgency: cannot connect to" in out
    assert "LookupUser" not in out
    assert "Configuration for this member" not in out


def test_a_configuration_with_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each issue on its own line, then one summary line; exit 1."""
    path = tmp_path / "broken.toml"
    path.write_text('[nodes.top]\nkind = "consortium"\nname = "Top"\ncolour = "red"\n')
    assert main(["probe-ils", "top", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "unknown key 'colour'" in err
    assert err.strip().splitlines()[-1] == f"interlend: {path}: the configuration has errors"
