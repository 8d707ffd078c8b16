"""Unified discovery: the holdings index, exports, and live lookups with partial results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio
from structlog.testing import capture_logs

from config.models import Config, HoldingsExport
from gateway.network.discovery import (
    Holding,
    HoldingsError,
    HoldingsIndex,
    discover,
    normalize_isbn,
)
from gateway.network.results import CopyAvailability, Lookup, Unreachable
from gateway.runtime.directory import MemberDirectory
from tests.helpers.demo import running_demo

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.demo.network import Demo

EXPORT = """item,title,isbn,author,location
31002000000001,Beta Book 1,0-306-40615-2,An Author,beta-stacks
31002000000002,Beta Book 2,,,
"""


def test_isbns_are_compared_as_13_digits() -> None:
    """ISBN-10s and ISBN-13s, with or without hyphens, compare as the same 13 digits;
    anything else is no ISBN."""
    assert normalize_isbn("0-306-40615-2") == "9780306406157"
    assert normalize_isbn("978-0-306-40615-7") == "9780306406157"
    assert normalize_isbn("030640615X") == "9780306406157"
    assert normalize_isbn("not an isbn") is None
    assert normalize_isbn("") is None


def test_the_index_finds_by_item_isbn_and_title_words() -> None:
    """The index finds copies by barcode, by ISBN in either form, and by every word of a
    title (case and accents ignored); a replaced holding forgets its old words."""
    index = HoldingsIndex()
    index.add(Holding("alpha", "A1", "Café Society: A History", "9780306406157"))
    index.add(Holding("beta", "B1", "cafe society", "0306406152"))
    index.add(Holding("beta", "B2", "Something Else"))
    assert [h.member for h in index.item("A1")] == ["alpha"]
    assert [h.item for h in index.isbn("0-306-40615-2")] == ["A1", "B1"]
    assert [h.item for h in index.title("CAFE society")] == ["A1", "B1"]
    assert index.title("cafe else") == []
    assert index.title("!!!") == []
    index.add(Holding("beta", "B1", "Renamed"))  # replaced, old words forgotten
    assert [h.item for h in index.title("society")] == ["A1"]
    assert len(index) == 3


def test_learning_keeps_what_an_export_gave() -> None:
    """What an ILS says of an item adds a holding the index did not have, but never
    renames one an export gave with its ISBN; an empty title teaches nothing."""
    index = HoldingsIndex()
    index.add(Holding("beta", "B1", "Export Title", "9780306406157"))
    index.learn("beta", "B1", "ILS Title")
    index.learn("beta", "B9", "Seen At The Desk")
    index.learn("beta", "B8", "")
    assert index.item("B1")[0].title == "Export Title"
    assert index.item("B9")[0].title == "Seen At The Desk"
    assert index.item("B8") == []


def test_exports_load_and_bad_ones_are_named(tmp_path: Path) -> None:
    """A good export loads; a missing column, a row without item, title or member, and
    text that is not UTF-8 are refused with the file (and line) named, loading
    nothing."""
    good = tmp_path / "beta.csv"
    good.write_text(EXPORT, encoding="utf-8")
    index = HoldingsIndex()
    assert index.load_csv(good, "beta") == 2
    assert index.isbn("9780306406157")[0].author == "An Author"
    no_member = tmp_path / "no-member.csv"
    no_member.write_text(EXPORT, encoding="utf-8")
    with pytest.raises(HoldingsError, match="missing column"):
        index.load_csv(no_member)
    row = tmp_path / "row.csv"
    row.write_text("member,item,title\nbeta,,Untitled\n", encoding="utf-8")
    with pytest.raises(HoldingsError, match=r"row.csv:2: a row needs"):
        index.load_csv(row)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("member,item,title\nbeta,X1,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(HoldingsError, match="not UTF-8"):
        index.load_csv(latin)
    assert len(index) == 2


async def ask(demo: Demo, **query: str) -> tuple[int, dict[str, Any]]:
    assert demo.bound.admin is not None
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{demo.bound.admin.rstrip('/')}/api/discover", params=query, timeout=10
        )
    return answer.status_code, answer.json()


async def test_an_item_is_looked_up_live_at_its_owner(demo: Demo) -> None:
    """An item the index does not hold is looked up live at the owner its barcode names,
    and is available there."""
    with trio.fail_after(10):
        status, found = await ask(demo, item="31002000000003")
    assert status == 200
    [result] = found["results"]
    assert result["member"] == "beta"
    assert result["title"] == "Beta Book 3"
    assert result["available"] is True
    assert result["source"] == "live"
    assert found["members"] == ["beta"]
    assert not found["partial"]


async def test_titles_from_exports_with_live_status_and_partial_results(
    demo: Demo, tmp_path: Path
) -> None:
    """Copies of a title from an export get their live status at each holder; with a
    holder down the answer is partial, names it as unreachable and keeps its copies from
    the index."""
    export = tmp_path / "holdings.csv"
    export.write_text(
        "member,item,title,isbn\n"
        "beta,31002000000004,Shared Title,9780306406157\n"
        "gamma,31003000000004,Shared Title,9780306406157\n",
        encoding="utf-8",
    )
    demo.gateway.services.holdings.load_csv(export)
    with trio.fail_after(10):
        status, both = await ask(demo, title="shared title")
        demo.stop_ils("gamma")
        _, partial = await ask(demo, isbn="0-306-40615-2")
    assert status == 200
    assert {r["member"] for r in both["results"]} == {"beta", "gamma"}
    assert both["members"] == ["beta", "gamma"]
    assert partial["partial"] is True
    assert [u["member"] for u in partial["unreachable"]] == ["gamma"]
    assert {r["member"]: r["source"] for r in partial["results"]} == {
        "beta": "live",
        "gamma": "index",
    }
    assert partial["members"] == ["beta"]


async def test_discovery_answers_typed_copies_and_unreachable_members(
    demo: Demo, tmp_path: Path
) -> None:
    """Inside the gateway a discovery is typed: each copy says what its ILS said of it
    and whether it can be lent now; a member that is down is named with its display
    name, and the answer is partial."""
    export = tmp_path / "holdings.csv"
    export.write_text(
        "member,item,title\nbeta,31002000000006,Typed Title\ngamma,31003000000006,Typed Title\n",
        encoding="utf-8",
    )
    demo.gateway.services.holdings.load_csv(export)
    demo.stop_ils("gamma")
    with trio.fail_after(10):
        found = await discover(
            MemberDirectory(*demo.gateway.current()),
            demo.gateway.services.holdings,
            title="typed title",
        )
    by_member = {c.member: c for c in found.holdings}
    assert by_member["beta"].lookup is Lookup.LIVE
    assert by_member["beta"].availability is CopyAvailability.AVAILABLE
    assert by_member["gamma"].lookup is Lookup.NOT_CHECKED
    assert by_member["gamma"].availability is CopyAvailability.UNKNOWN
    [down] = found.unreachable
    assert down == Unreachable("gamma", "Gamma College Library", down.detail)
    assert found.partial
    assert found.members == ("beta",)


async def test_a_query_needs_exactly_one_key(demo: Demo) -> None:
    """Asking for none, or for more than one, of item, isbn and title is a 400."""
    status, found = await ask(demo)
    assert status == 400
    assert "exactly one" in found["error"]
    status, _ = await ask(demo, item="x", title="y")
    assert status == 400


async def test_an_unknown_title_is_an_empty_answer(demo: Demo) -> None:
    """A title nobody holds is an empty answer, not an error."""
    status, found = await ask(demo, title="no such book anywhere")
    assert status == 200
    assert found["results"] == []
    assert found["members"] == []


async def test_configured_exports_load_at_start_and_a_bad_one_is_skipped(tmp_path: Path) -> None:
    """The exports the configuration names are loaded at start; one that cannot be read
    is logged and skipped."""
    good = tmp_path / "beta.csv"
    good.write_text(EXPORT, encoding="utf-8")

    def with_exports(config: Config) -> Config:
        exports = (
            HoldingsExport(file=good, member="beta"),
            HoldingsExport(file=tmp_path / "missing.csv"),
        )
        gateway = config.gateway.model_copy(update={"holdings": exports})
        return config.model_copy(update={"gateway": gateway})

    with capture_logs() as logs, trio.fail_after(20):
        async with running_demo(with_exports) as running:
            loaded = len(running.gateway.services.holdings)
    assert loaded == 2
    assert any(e["event"] == "holdings export not loaded" for e in logs)
