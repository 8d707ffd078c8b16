"""The demo members' holdings exports, written from the simulated catalogues.

A real member sends the consortium a CSV export of its holdings, which the gateway
loads into its discovery index at start and on reload (``gateway.holdings``).  The
demo's members are simulated, so their exports are written from the simulators'
catalogues into a folder the demo owns for its lifetime: discovery by title or ISBN
then works in the demo as in production (the format is ``gateway/network/discovery.py``'s).
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

from config.models import HoldingsExport

if TYPE_CHECKING:
    from pathlib import Path

    from config.models import Config
    from gateway.demo.simulator.data import LibraryData

__all__ = ["with_holdings", "write_exports"]

COLUMNS = ("item", "title", "isbn", "location")


def write_exports(libraries: dict[str, LibraryData], folder: Path) -> tuple[HoldingsExport, ...]:
    """One export per member under ``folder``, as the member would send it."""
    exports = []
    for member, library in sorted(libraries.items()):
        path = folder / f"{member}-holdings.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            for item in library.items.values():
                writer.writerow((item.id, item.title, item.isbn or "", item.location))
        exports.append(HoldingsExport(file=path, member=member))
    return tuple(exports)


def with_holdings(config: Config, exports: tuple[HoldingsExport, ...]) -> Config:
    """The configuration with ``exports`` loaded into the discovery index."""
    gateway = config.gateway.model_copy(update={"holdings": exports})
    return config.model_copy(update={"gateway": gateway})
