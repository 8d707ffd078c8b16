"""``interlend report usage`` and ``report collection`` as a user runs them, on a real
Redis holding a consortium's loans and refusals, and every bad input's one-line error."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING

import coredis
import pytest
import trio

from adapters.state.base import LoanRequest, RefusalRecord, Reservation
from adapters.state.redis import RedisStateStore
from gateway.cli.main import main

if TYPE_CHECKING:
    from pathlib import Path

NOVEMBER = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
EXPORT = (
    "member,item,title,isbn\n"
    "beta,31002000000001,Dune,9780441013593\n"
    "gamma,31003000000001,Dune,9780441013593\n"
    "alpha,31001000000001,Emma,\n"
    "gamma,31003000000002,Emma,\n"
)


async def _seed(url: str, namespace: str) -> None:
    """Two loans beta -> alpha (one returned after 12 hours), one gamma -> beta, one in
    October; a refused title hold of alpha's and a refused checkout at gamma."""
    async with coredis.Redis.from_url(url, decode_responses=True) as client:
        store = RedisStateStore(client, namespace=namespace)
        for n, (owner, home, item, when) in enumerate(
            [
                ("beta", "alpha", "31002000000001", NOVEMBER),
                ("beta", "alpha", "31002000000002", NOVEMBER + timedelta(hours=1)),
                ("gamma", "beta", "31003000000001", NOVEMBER + timedelta(days=1)),
                ("beta", "alpha", "31002000000001", NOVEMBER - timedelta(days=10)),
            ]
        ):
            held = await store.reserve(
                LoanRequest(owner, home, item, f"p{n}", f"ILL-{home}", "t", f"k{n}", None, None),
                now=when,
            )
            assert isinstance(held, Reservation)
            await store.commit(held, due=when + timedelta(days=21), now=when)
            if n == 0:
                await store.close(owner, item, now=when + timedelta(hours=12))
        await store.refusal_record(RefusalRecord(NOVEMBER, "hold", "no-lender", "alpha", None))
        await store.refusal_record(RefusalRecord(NOVEMBER, "checkout", "fines", "beta", "gamma"))


@pytest.fixture(scope="module")
def config(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo consortium on a Redis namespace seeded with November's activity, and a
    holdings export."""
    directory = tmp_path_factory.mktemp("report")
    namespace = f"report-{uuid.uuid4().hex[:10]}"
    trio.run(_seed, redis_url, namespace)
    export = directory / "holdings.csv"
    export.write_text(EXPORT, encoding="utf-8")
    text = resources.files("config").joinpath("demo.toml").read_text("utf-8")
    text += f"""
[gateway]
holdings = [{{ file = "{export}" }}]

[gateway.state]
backend = "redis"
url = "{redis_url}"
namespace = "{namespace}"
"""
    path = directory / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_usage_as_json_counts_the_periods_loans_and_refusals(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """November's three loans and two refusals; October's loan is left out."""
    status = main(
        ["report", "usage", "--config", str(config), "--period", "2026-11", "--format", "json"]
    )
    out = capsys.readouterr().out
    assert status == 0
    data = json.loads(out)
    assert data["loans"] == 3
    assert data["flows"]["beta"]["alpha"] == 2
    assert data["flows"]["gamma"]["beta"] == 1
    assert data["fill_rate"]["consortium"] == {
        "filled": 3,
        "refused": 2,
        "requests": 5,
        "rate": 0.6,
    }
    assert data["refusals"]["by_borrower"] == {"fines": {"beta": 1}, "no-lender": {"alpha": 1}}
    assert data["turnaround"]["consortium"]["median_hours"] == 12.0


def test_usage_as_csv_into_a_directory(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out DIR`` writes ``usage-<period>.csv`` and prints its path."""
    status = main(
        [
            "report",
            "usage",
            "--config",
            str(config),
            "--period",
            "2026-11",
            "--format",
            "csv",
            "--out",
            str(tmp_path),
        ]
    )
    written = tmp_path / "usage-2026-11.csv"
    assert status == 0
    assert capsys.readouterr().out.strip() == str(written)
    assert "flows,beta,alpha,loans,2" in written.read_text(encoding="utf-8").splitlines()


def test_collection_from_the_exports_and_the_loans(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dune (beta, gamma) was lent twice; Emma (alpha, gamma) never: held by many and
    never lent.  Without a period every loan kept counts."""
    status = main(["report", "collection", "--config", str(config), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 0
    assert data["period"] is None
    assert data["overlap"]["beta"]["gamma"] == 1
    assert [t["title"] for t in data["held_by_many_never_lent"]] == ["Emma"]
    assert data["top_borrowed_titles"][0]["title"] == "Dune"
    assert data["top_borrowed_titles"][0]["loans"] == 3
    status = main(["report", "collection", "--config", str(config), "--period", "2026-11"])
    assert status == 0
    assert "Collection: 2 titles in 4 copies at 3 libraries" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["usage", "--period", "2026-13"], 2, "--period: '2026-13' is not a real date"),
        (["usage", "--period", "November"], 2, "--period: 'November' is not a period"),
        (["collection", "--many", "0"], 2, "--many: give a number of libraries"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    config: Path, args: list[str], status: int, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed argument: exit 2 and one line naming it."""
    assert main(["report", *args, "--config", str(config)]) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert says in err[0]


def test_a_memory_registry_points_to_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's registry lives in its process: ``usage`` says where to ask instead."""
    demo = resources.files("config").joinpath("demo.toml")
    assert main(["report", "usage", "--config", str(demo), "--period", "2026-11"]) == 1
    assert "GET /api/analytics/usage?period=2026-11" in capsys.readouterr().err


def test_an_unreachable_registry_and_a_missing_export_are_one_line_errors(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Redis that does not answer, and an export that is not there: exit 1, one
    ``interlend:`` line naming the cause, no traceback."""
    text = config.read_text(encoding="utf-8")
    dead = tmp_path / "dead.toml"
    dead.write_text(
        text.replace(text.split('url = "')[1].split('"')[0], "redis://127.0.0.1:9"),
        encoding="utf-8",
    )
    assert main(["report", "usage", "--config", str(dead), "--period", "2026-11"]) == 1
    errors = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("interlend:")
    ]
    assert len(errors) == 1
    assert "the state store" in errors[0]
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace("holdings.csv", "nowhere.csv"), encoding="utf-8")
    assert main(["report", "collection", "--config", str(missing)]) == 1
    err = capsys.readouterr().err
    assert "nowhere.csv" in err
    assert "Traceback" not in err
