"""``interlend report settlement`` from end to end: demo history into a registry (in
memory, and in a real Redis that is then restarted), the period read back, settled,
rendered, and invoiced; and every bad input answered with one line.

The settlement engine is given to the command (as the command line gives it); here
it is a hand-built settlement that also records the loans it was handed, so the tests
see exactly what the command read.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
import trio

from adapters.state.connect import open_state
from adapters.state.memory import MemoryStateStore
from config.models import StateSettings
from gateway.demo.history import synthetic_history
from gateway.demo.seed import play_demo_history
from gateway.history.period import Period
from gateway.history.reader import PeriodLoans, read_period
from gateway.ledger.settlement import parse_statements
from gateway.reports.html import settlement_html
from gateway.reports.invoices import invoices
from gateway.reports.tabular import settlement_csv
from tests.gateway.reports.commands import DEMO_CONFIG, ByHand, report
from tests.gateway.reports.sample import SAMPLE
from tests.helpers.cli import start_cli
from tests.helpers.services import dead_port, missing_service, start_redis

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from config.consortium import Consortium
    from tests.helpers.services import RedisServer

END = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOVEMBER = synthetic_history(end=END, days=30, seed=4)
"""The demo history that is exactly November 2026."""


def _same_loans(found: PeriodLoans) -> None:
    assert [(x.owner, x.home, x.item, x.checked_out, x.returned) for x in found.loans] == [
        (x.owner, x.home, x.item, x.checked_out, x.returned) for x in NOVEMBER
    ]


async def test_demo_history_in_memory_becomes_a_report_and_invoices() -> None:
    """History → registry → the period's loans → settlement → page and invoices."""
    store = MemoryStateStore()
    await play_demo_history(store, days=30, seed=4, end=END)
    loans = await read_period(store, Period.parse("2026-11"))
    _same_loans(loans)
    settle = ByHand()
    settlement = settle(loans, _demo_consortium())
    assert "<h1>Consortium settlement, 2026-11</h1>" in settlement_html(settlement)
    assert settlement_csv(settlement).count("\r\n") == 4
    assert [i.number for i in invoices(settlement)] == [
        "2026-11/alpha",
        "2026-11/beta",
        "2026-11/gamma",
    ]


def _demo_consortium() -> Consortium:
    from config.loader import load_consortium

    return load_consortium(DEMO_CONFIG, check_secrets=False)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of this module's own, with its append-only file, to restart."""
    server = start_redis(tmp_path_factory.mktemp("report-redis"), appendonly=True)
    if server is None:
        missing_service("redis-server is not installed")
        raise AssertionError("unreachable")
    try:
        yield server
    finally:
        server.stop()


async def _seed(url: str) -> None:
    async with open_state(StateSettings(backend="redis", url=url), None) as store:
        played = await play_demo_history(store, days=30, seed=4, end=END)
        assert played.loans == len(NOVEMBER)


def test_demo_history_in_redis_is_reported_and_invoiced_before_and_after_a_restart(
    own_redis: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command reads the period from Redis, writes the page, the invoices and the
    netting statement; after Redis restarts it reads the same loans again."""
    trio.run(_seed, own_redis.url)
    settle = ByHand()
    out = tmp_path / "out"
    common = ("--period", "2026-11", "--config", DEMO_CONFIG, "--state", own_redis.url)
    assert report(*common, "--format", "html", "--out", str(out), "--invoices", settle=settle) == 0
    _same_loans(settle.seen[0])
    page = (out / "settlement-2026-11.html").read_text(encoding="utf-8")
    assert "<h1>Demo Library Consortium: settlement, 2026-11</h1>" in page
    assert page.count("<svg ") == 3
    alpha = json.loads((out / "invoices-2026-11" / "alpha.json").read_text(encoding="utf-8"))
    assert (alpha["invoice"], alpha["net_minor"]) == ("2026-11/alpha", -40_000)
    gamma = (out / "invoices-2026-11" / "gamma.csv").read_text(encoding="utf-8")
    lines = list(csv.DictReader(io.StringIO(gamma)))
    assert {"line": "receive", "counterparty": "alpha", "amount_minor": "35000"}.items() <= (
        lines[-1].items()
    )
    netting = json.loads((out / "netting-2026-11.json").read_text(encoding="utf-8"))
    assert len(netting["transfers"]) == 2
    assert (out / "netting-2026-11.csv").exists()
    # The statements as the chain's settlement round reads them (ledger settle --statements).
    statements = (out / "statements-2026-11.json").read_text(encoding="utf-8")
    expected = [dataclasses.replace(s, period="2026-11") for s in SAMPLE.statements]
    assert parse_statements(statements) == expected
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"wrote {out / 'settlement-2026-11.html'}"
    assert len(printed) == 1 + 2 * 3 + 3

    own_redis.stop()
    own_redis.start(appendonly=True)
    assert report(*common, "--format", "csv", settle=settle) == 0
    _same_loans(settle.seen[1])
    assert capsys.readouterr().out == settlement_csv(settle(settle.seen[1], _demo_consortium()))


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["--period", "2026-13"], 2, "--period '2026-13' is not a real date"),
        (["--period", "November"], 2, "is not a period: give YYYY-MM"),
        (["--period", "2026-11", "--format", "pdf"], 2, "unknown --format 'pdf': choose table"),
        (["--period", "2026-11", "--invoices"], 2, "--invoices writes files: give --out DIR"),
        (["--period", "2026-11", "--state", "http://x"], 2, "is not a redis:// or rediss:// URL"),
        (["--period", "2026-11", "--webhook"], 2, "no [gateway.reports.webhook]"),
    ],
)
def test_bad_input_is_one_line_and_a_usage_status(
    argv: list[str], status: int, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each mistake a person can make is named on one line, with exit status 2."""
    assert report(*argv, "--config", DEMO_CONFIG, settle=ByHand()) == status
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("interlend: ")
    assert says in err[-1]
    assert not [line for line in err if "Traceback" in line]


def test_a_configuration_that_does_not_load_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file: its issue, and where to see every issue."""
    missing = tmp_path / "nowhere.toml"
    assert report("--period", "2026-11", "--config", str(missing), settle=ByHand()) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert "nowhere.toml" in line
    assert "interlend check-config" in line


def test_a_redis_that_does_not_answer_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Nobody listening at --state: the registry cannot be read, said once."""
    url = f"redis://127.0.0.1:{dead_port()}/0"
    status = report("--period", "2026-11", "--config", DEMO_CONFIG, "--state", url, settle=ByHand())
    assert status == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("interlend: the loan registry (redis 127.0.0.1:")
    assert "cannot be read" in last


def test_without_a_settlement_engine_the_command_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No engine given: a clear line, not a stub's empty report."""
    assert report("--period", "2026-11", "--config", DEMO_CONFIG) == 1
    assert "no settlement engine" in capsys.readouterr().err.splitlines()[-1]


def test_the_command_line_has_report_settlement_and_no_traceback() -> None:
    """``interlend report settlement`` as a user runs it: a bad period, one line, exit 2."""
    process = start_cli("report", "settlement", "--period", "2026-00", "--config", DEMO_CONFIG)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip().splitlines() == [
        "interlend: --period '2026-00' is not a real date: month must be in 1..12"
    ]
    assert out == ""


def test_a_folder_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out`` names a file, not a folder: the path and the reason, exit 1."""
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder", encoding="utf-8")
    argv = ("--period", "2026-11", "--config", DEMO_CONFIG, "--out", str(blocker / "reports"))
    assert report(*argv, settle=ByHand()) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"interlend: cannot write {blocker / 'reports'}")


def test_a_registry_in_memory_is_reported_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's file keeps the registry in memory: the report of its empty registry
    comes with a note saying where the consortium's loans are."""
    assert (
        report("--period", "2026-11", "--config", DEMO_CONFIG, "--format", "json", settle=ByHand())
        == 0
    )
    out, err = capsys.readouterr()
    assert json.loads(out)["schema"] == "interlend.settlement/1"
    assert "registry in memory" in err
    assert "--state redis://" in err
