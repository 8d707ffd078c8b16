"""The demo members' holdings exports, written from the simulated catalogues."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.demo.holdings import write_exports
from gateway.demo.simulator.data import packaged_library
from gateway.network.discovery import HoldingsIndex

if TYPE_CHECKING:
    from pathlib import Path


def test_each_member_exports_its_catalogue_and_two_share_a_title(tmp_path: Path) -> None:
    """One export per member with every simulated item; loaded into a discovery index,
    the shared demo title is found at alpha and beta, by title words and by ISBN."""
    libraries = {m: packaged_library(m) for m in ("alpha", "beta", "gamma")}
    exports = write_exports(libraries, tmp_path)
    index = HoldingsIndex()
    loaded = {
        export.member: index.load_csv(export.file, member=export.member) for export in exports
    }
    assert loaded == {m: len(library.items) for m, library in libraries.items()}
    by_title = {(h.member, h.item) for h in index.title("atlas of shared collections")}
    by_isbn = {(h.member, h.item) for h in index.isbn("978-1-4028-9462-6")}
    assert by_title == by_isbn == {("alpha", "31001000000051"), ("beta", "31002000000051")}
