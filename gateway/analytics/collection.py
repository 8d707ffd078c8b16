"""What the libraries hold, side by side, and what of it circulates across the network:
the evidence a consortium uses to avoid buying the same title twice.

Inputs: the holdings exports (every copy: its library, barcode, title and ISBN; the
discovery index holds them, ``gateway/network/discovery.py``) and the registry's loans
between libraries.  A *title* is its ISBN when the copy has one, else its title's
words (case, accents and punctuation ignored), so two libraries' copies of a book
count as one title however each catalogued it.

* **Overlap**: ``overlap[a][b]``, the titles both ``a`` and ``b`` hold (symmetric;
  ``overlap[a][a]`` is every title ``a`` holds).
* **Unique**: the titles only one library holds, per library.
* **Held by many, never lent**: titles held by at least ``many`` libraries of which no
  copy was lent to another library in the loans given: candidates for not buying again.
* **Top borrowed titles** and **items lent most**: loans per title and per copy (a
  loan of a copy missing from the exports counts under ``loans_unmatched``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from adapters.state.base import Loan

__all__ = [
    "CollectionReport",
    "HeldCopy",
    "ItemLoans",
    "TitleCount",
    "collection_report",
    "title_key",
]


class HeldCopy(Protocol):
    """One copy in a holdings export (``gateway.network.discovery.Holding`` is one)."""

    @property
    def member(self) -> str:
        """The library holding it."""
        ...

    @property
    def item(self) -> str:
        """Its barcode."""
        ...

    @property
    def title(self) -> str:
        """Its title."""
        ...

    @property
    def isbn(self) -> str | None:
        """Its ISBN (normalised), if known."""
        ...


def title_key(copy: HeldCopy) -> str:
    """What makes two copies the same title: the ISBN, else the title's words."""
    if copy.isbn:
        return "isbn:" + copy.isbn
    folded = unicodedata.normalize("NFKD", copy.title).encode("ascii", "ignore").decode()
    return "title:" + " ".join(re.findall(r"[a-z0-9]+", folded.casefold()))


@dataclass(frozen=True)
class TitleCount:
    """A title with how many libraries hold it and how often it was lent."""

    title: str
    isbn: str | None
    holders: tuple[str, ...]
    loans: int

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "title": self.title,
            "isbn": self.isbn,
            "holders": list(self.holders),
            "loans": self.loans,
        }


@dataclass(frozen=True)
class ItemLoans:
    """A copy and its loans to other libraries."""

    owner: str
    item: str
    title: str | None
    loans: int

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {"owner": self.owner, "item": self.item, "title": self.title, "loans": self.loans}


@dataclass(frozen=True)
class CollectionReport:
    """The collection analytics (see the module documentation)."""

    libraries: tuple[str, ...]
    titles: int
    copies: int
    overlap: Mapping[str, Mapping[str, int]]
    unique: Mapping[str, int]
    unique_titles: Mapping[str, tuple[str, ...]]
    """Up to ``limit`` of each library's unique titles, by name."""
    held_by_many_never_lent: tuple[TitleCount, ...]
    many: int
    top_borrowed_titles: tuple[TitleCount, ...]
    most_lent_items: tuple[ItemLoans, ...]
    loans: int
    loans_unmatched: int

    def to_json(self) -> dict[str, object]:
        """The documented JSON form (``docs/analytics.md``)."""
        return {
            "libraries": list(self.libraries),
            "titles": self.titles,
            "copies": self.copies,
            "overlap": {k: dict(v) for k, v in self.overlap.items()},
            "unique": dict(self.unique),
            "unique_titles": {k: list(v) for k, v in self.unique_titles.items()},
            "many": self.many,
            "held_by_many_never_lent": [t.to_json() for t in self.held_by_many_never_lent],
            "top_borrowed_titles": [t.to_json() for t in self.top_borrowed_titles],
            "most_lent_items": [i.to_json() for i in self.most_lent_items],
            "loans": self.loans,
            "loans_unmatched": self.loans_unmatched,
        }


def collection_report(
    holdings: Iterable[HeldCopy],
    loans: Sequence[Loan],
    *,
    libraries: Sequence[str] = (),
    many: int = 2,
    limit: int = 20,
) -> CollectionReport:
    """The collection report.

    Args:
        holdings: Every copy in the exports.
        loans: The loans to count (a period's, or the whole history kept); loans of a
            library to its own patrons are ignored.
        libraries: The consortium's libraries (each listed even if it exported nothing).
        many: The fewest holders for "held by many".
        limit: The longest list of each kind.
    """
    copies = list(holdings)
    lent = [x for x in loans if x.owner != x.home]
    members = tuple(
        dict.fromkeys([*libraries, *sorted({c.member for c in copies} - set(libraries))])
    )
    holders: dict[str, set[str]] = {}
    shown: dict[str, tuple[str, str | None]] = {}
    key_of: dict[tuple[str, str], str] = {}
    for copy in copies:
        key = title_key(copy)
        holders.setdefault(key, set()).add(copy.member)
        shown.setdefault(key, (copy.title, copy.isbn))
        key_of[(copy.member, copy.item)] = key
    by_library: dict[str, set[str]] = {m: set() for m in members}
    for key, who in holders.items():
        for member in who:
            by_library[member].add(key)

    overlap = {a: {b: len(by_library[a] & by_library[b]) for b in members} for a in members}
    only = {m: sorted(shown[k][0] for k in by_library[m] if len(holders[k]) == 1) for m in members}

    item_loans = Counter((x.owner, x.item) for x in lent)
    title_loans: Counter[str] = Counter()
    unmatched = 0
    for (owner, item), count in item_loans.items():
        matched = key_of.get((owner, item))
        if matched is None:
            unmatched += count
        else:
            title_loans[matched] += count

    def counted(key: str) -> TitleCount:
        title, isbn = shown[key]
        return TitleCount(title, isbn, tuple(sorted(holders[key])), title_loans[key])

    never = sorted(
        (k for k, who in holders.items() if len(who) >= many and title_loans[k] == 0),
        key=lambda k: (-len(holders[k]), shown[k][0]),
    )
    top = sorted(title_loans, key=lambda k: (-title_loans[k], shown[k][0]))
    most = sorted(item_loans.items(), key=lambda pair: (-pair[1], pair[0]))
    return CollectionReport(
        libraries=members,
        titles=len(holders),
        copies=len(key_of),
        overlap=overlap,
        unique={m: len(titles) for m, titles in only.items()},
        unique_titles={m: tuple(titles[:limit]) for m, titles in only.items()},
        held_by_many_never_lent=tuple(counted(k) for k in never[:limit]),
        many=many,
        top_borrowed_titles=tuple(counted(k) for k in top[:limit]),
        most_lent_items=tuple(
            ItemLoans(
                owner, item, shown[key_of[(owner, item)]][0] if (owner, item) in key_of else None, n
            )
            for (owner, item), n in most[:limit]
        ),
        loans=len(lent),
        loans_unmatched=unmatched,
    )
