"""The simulated ILS's catalogue: patrons and items, loaded from a small TOML file.

A data file names the library and lists patrons and items, one by one or as numbered
series (``21001000000001`` … from a prefix, a width and a count)::

    institution_id = "alpha"
    name = "Alpha Public Library"
    loan_days = 21
    login = "gateway"            # the account the gateway logs in with (93 CN)

    [[patron_series]]
    prefix = "21001"
    digits = 9
    count = 20
    pin = "1234"
    name = "Alpha Patron {n}"

    [[patrons]]
    id = "21001000000099"
    name = "Blocked Patron"
    fines = "25.00"
    blocked = true

The SIP2 login password is never in the file: it is given when the server starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["LibraryData", "SimItem", "SimPatron", "load_library", "packaged_library"]


@dataclass
class SimPatron:
    """A patron of the simulated library (mutable: fines and blocks change)."""

    id: str
    name: str
    pin: str = ""
    type: str = "adult"
    fines: Decimal = Decimal(0)
    blocked: bool = False
    email: str | None = None


@dataclass
class SimItem:
    """An item of the simulated library (mutable: it circulates)."""

    id: str
    title: str
    isbn: str | None = None
    media_type: int = 1
    location: str = "stacks"
    holder: str | None = None
    due: datetime | None = None
    renewals: int = 0
    holds: list[str] = field(default_factory=list)
    properties: str = ""


@dataclass
class LibraryData:
    """Everything a simulated ILS knows."""

    institution_id: str
    name: str
    login: str = "gateway"
    loan_days: int = 21
    max_renewals: int = 2
    currency: str = "USD"
    patrons: dict[str, SimPatron] = field(default_factory=dict)
    items: dict[str, SimItem] = field(default_factory=dict)


def _series(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    expanded: list[dict[str, Any]] = []
    for entry in entries:
        spec = dict(entry)
        prefix, digits = spec.pop("prefix"), spec.pop("digits")
        first, count = spec.pop("first", 1), spec.pop("count")
        expanded.extend(
            {
                **{k: v.format(n=n) if isinstance(v, str) else v for k, v in spec.items()},
                "id": f"{prefix}{n:0{digits}d}",
            }
            for n in range(first, first + count)
        )
    return expanded


def _library(data: dict[str, Any]) -> LibraryData:
    library = LibraryData(
        institution_id=data["institution_id"],
        name=data["name"],
        login=data.get("login", "gateway"),
        loan_days=data.get("loan_days", 21),
        max_renewals=data.get("max_renewals", 2),
        currency=data.get("currency", "USD"),
    )
    for entry in _series(data.get("patron_series", [])) + data.get("patrons", []):
        entry = dict(entry)
        entry["fines"] = Decimal(str(entry.get("fines", "0")))
        library.patrons[entry["id"]] = SimPatron(**entry)
    for entry in _series(data.get("item_series", [])) + data.get("items", []):
        library.items[entry["id"]] = SimItem(**entry)
    return library


def load_library(path: str | Path) -> LibraryData:
    """Load a data file (``KeyError``/``TypeError`` for a malformed one)."""
    return _library(tomllib.loads(Path(path).read_text(encoding="utf-8")))


def packaged_library(member: str) -> LibraryData:
    """Load one of the demo libraries shipped with the package (alpha, beta, gamma)."""
    text = resources.files(__package__).joinpath("data", f"{member}.toml").read_text("utf-8")
    return _library(tomllib.loads(text))
