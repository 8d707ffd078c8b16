"""Unified discovery: which members own, and can lend now, an item or a title.

Two sources, combined:

* **A holdings index** fed by member exports (CSV, see ``HoldingsIndex.load_csv``) and
  by what the gateway sees (titles in the ILSs' item answers).  It answers "who holds
  this title or ISBN" without asking every ILS.
* **Live lookups**: the candidates' ILSs are asked about each item (SIP2 17 or NCIP
  LookupItem, through ``MemberIls.item_information``) at once, each within a per-member
  time limit.  A member that fails or is too slow is listed under ``unreachable`` and
  the answer is partial rather than late.  An id a member's ILS cannot be asked about
  (too long for its protocol, a character it cannot carry) is not sent and is no
  failure of that member: the index's word on it stands, unchecked.

``discover`` answers a ``Discovery`` (``gateway/network/results.py``): typed copies,
each with what its ILS said of it and whether it can be lent now, for the flows that
act on it; the admin API alone writes it as JSON.

Export format (UTF-8 CSV with a header row; column order free, unknown columns
ignored): ``item`` (barcode, required), ``title`` (required), ``isbn``, ``author``,
``location``, and ``member`` (required unless the loader is told the member).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import structlog
import trio

from adapters.errors import IlsError, IlsRequestInvalid
from gateway.network.results import Discovery, DiscoveryQuery, FoundCopy, Lookup, Unreachable

if TYPE_CHECKING:
    from pathlib import Path

    from adapters.ils.base import ItemRecord, MemberIls
    from config.consortium import Consortium

__all__ = [
    "Directory",
    "Holding",
    "HoldingsError",
    "HoldingsIndex",
    "discover",
    "normalize_isbn",
]

log = structlog.get_logger("interlend.discovery")

LIVE_LIMIT = 25
"""At most this many items are looked up live per query (the rest come from the index)."""


class Directory(Protocol):
    """What discovery needs of the gateway: the consortium and each member's ILS."""

    @property
    def consortium(self) -> Consortium:
        """The consortium in force."""
        ...

    def name(self, member: str) -> str:
        """A library's display name."""
        ...

    def ils(self, member: str) -> MemberIls | None:
        """A member's ILS client (``None`` for a node that is not a library)."""
        ...


class HoldingsError(ValueError):
    """An export that cannot be loaded (the message names the file and line)."""


@dataclass(frozen=True)
class Holding:
    """One copy of a title at a member."""

    member: str
    item: str
    title: str
    isbn: str | None = None
    author: str | None = None
    location: str | None = None


def normalize_isbn(text: str) -> str | None:
    """An ISBN as 13 digits (ISBN-10s converted), or ``None`` if it is not one."""
    digits = re.sub(r"[^0-9Xx]", "", text).upper()
    if len(digits) == 13 and digits.isdigit():
        return digits
    if len(digits) == 10 and digits[:9].isdigit():
        core = "978" + digits[:9]
        check = (10 - sum((3 if i % 2 else 1) * int(d) for i, d in enumerate(core)) % 10) % 10
        return core + str(check)
    return None


def _words(text: str) -> tuple[str, ...]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    return tuple(re.findall(r"[a-z0-9]+", folded))


@dataclass
class HoldingsIndex:
    """Holdings by item, ISBN and title words (in memory; rebuilt from exports)."""

    _by_item: dict[tuple[str, str], Holding] = field(default_factory=dict)
    _by_isbn: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    _by_word: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._by_item)

    def add(self, holding: Holding) -> None:
        """Add or replace the holding of ``(member, item)``."""
        key = (holding.member, holding.item)
        self._forget(key)
        self._by_item[key] = holding
        isbn = normalize_isbn(holding.isbn) if holding.isbn else None
        if isbn:
            self._by_isbn.setdefault(isbn, set()).add(key)
        for word in set(_words(holding.title)):
            self._by_word.setdefault(word, set()).add(key)

    def _forget(self, key: tuple[str, str]) -> None:
        old = self._by_item.pop(key, None)
        if old is None:
            return
        isbn = normalize_isbn(old.isbn) if old.isbn else None
        if isbn:
            self._by_isbn.get(isbn, set()).discard(key)
        for word in set(_words(old.title)):
            self._by_word.get(word, set()).discard(key)

    def learn(self, member: str, item: str, title: str) -> None:
        """Record what an ILS said about an item (keeps what an export gave)."""
        if not title:
            return
        known = self._by_item.get((member, item))
        if known is None:
            self.add(Holding(member, item, title))
        elif known.title != title and not known.isbn:
            self.add(Holding(member, item, title, None, known.author, known.location))

    def copies(self) -> list[Holding]:
        """Every holding, by member and item (what collection analytics read)."""
        return [self._by_item[key] for key in sorted(self._by_item)]

    def item(self, item: str) -> list[Holding]:
        """The holdings with this barcode (normally one member's)."""
        return [h for (m, i), h in self._by_item.items() if i == item]

    def isbn(self, isbn: str) -> list[Holding]:
        """The copies of an ISBN, by member."""
        normal = normalize_isbn(isbn)
        keys = self._by_isbn.get(normal, set()) if normal else set()
        return sorted((self._by_item[k] for k in keys), key=lambda h: (h.member, h.item))

    def title(self, words: str) -> list[Holding]:
        """The copies whose title has every word of ``words`` (case and accents ignored)."""
        wanted = _words(words)
        if not wanted:
            return []
        keys = set.intersection(*(self._by_word.get(w, set()) for w in wanted))
        return sorted((self._by_item[k] for k in keys), key=lambda h: (h.title, h.member))

    def load_csv(self, path: Path, member: str | None = None) -> int:
        """Load a member export; returns the number of holdings.

        Raises:
            HoldingsError: A missing column, a row without item/title/member, or
                undecodable text (the message names the file and the line).
        """
        loaded: list[Holding] = []
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                rows = csv.DictReader(handle)
                columns = {c.strip().lower() for c in rows.fieldnames or ()}
                missing = {"item", "title"} - columns
                if member is None and "member" not in columns:
                    missing.add("member")
                if missing:
                    raise HoldingsError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
                for row in rows:
                    values = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                    owner = member or values.get("member", "")
                    if not values.get("item") or not values.get("title") or not owner:
                        raise HoldingsError(
                            f"{path}:{rows.line_num}: a row needs item, title and member"
                        )
                    loaded.append(
                        Holding(
                            owner,
                            values["item"],
                            values["title"],
                            normalize_isbn(values.get("isbn", "")),
                            values.get("author") or None,
                            values.get("location") or None,
                        )
                    )
        except UnicodeDecodeError as exc:
            raise HoldingsError(f"{path}: not UTF-8 ({exc.reason})") from None
        for holding in loaded:
            self.add(holding)
        log.info("holdings loaded", file=str(path), holdings=len(loaded))
        return len(loaded)


async def discover(
    runtime: Directory,
    index: HoldingsIndex,
    *,
    item: str | None = None,
    isbn: str | None = None,
    title: str | None = None,
    member_timeout_s: float = 3.0,
) -> Discovery:
    """Who owns and can lend the item, ISBN or title (see the module documentation)."""
    consortium = runtime.consortium
    if item:
        candidates = index.item(item)
        if not candidates:
            owner = consortium.owner_of(item)
            owners = [owner] if owner else list(consortium.libraries)
            candidates = [Holding(m, item, "") for m in owners]
    elif isbn:
        candidates = index.isbn(isbn)
    elif title:
        candidates = index.title(title)
    else:
        raise ValueError("ask for an item, an isbn or a title")
    live = candidates[:LIVE_LIMIT]
    unreachable: dict[str, str] = {}
    found: dict[int, FoundCopy] = {}

    async def look(n: int, holding: Holding) -> None:
        ils = runtime.ils(holding.member)
        if ils is None or holding.member in unreachable:
            return
        timeout = min(member_timeout_s, consortium.policy(holding.member).ils.timeout_s)
        try:
            record = await ils.item_information(holding.item, timeout=timeout)
        except IlsError as exc:
            unreachable[holding.member] = exc.detail
            found[n] = _from_index(holding)
            return
        except IlsRequestInvalid as exc:
            # Not the member's failure: its ILS cannot even be asked about such an id
            # (nothing was sent).  What the index says of it stands, unchecked.
            log.info("item not looked up live", member=holding.member, detail=exc.detail)
            if holding.title:
                found[n] = _from_index(holding)
            return
        if not record.found:
            if holding.title:  # the index says so; the ILS no longer knows it
                found[n] = _from_index(holding, Lookup.NOT_FOUND)
            return
        index.learn(holding.member, holding.item, record.title)
        found[n] = _from_ils(holding, record)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for n, holding in enumerate(live):
            nursery.start_soon(look, n, holding)
    return Discovery(
        query=DiscoveryQuery(item=item, isbn=isbn, title=title),
        holdings=(
            *(found[n] for n in sorted(found)),
            *(_from_index(h) for h in candidates[LIVE_LIMIT:]),
        ),
        unreachable=tuple(
            Unreachable(m, runtime.name(m), d) for m, d in sorted(unreachable.items())
        ),
        elapsed_ms=round((trio.current_time() - started) * 1000),
    )


def _from_index(holding: Holding, lookup: Lookup = Lookup.NOT_CHECKED) -> FoundCopy:
    return FoundCopy(
        member=holding.member,
        item=holding.item,
        title=holding.title,
        isbn=holding.isbn,
        author=holding.author,
        location=holding.location,
        lookup=lookup,
    )


def _from_ils(holding: Holding, record: ItemRecord) -> FoundCopy:
    return FoundCopy(
        member=holding.member,
        item=holding.item,
        title=record.title or holding.title,
        isbn=holding.isbn,
        author=holding.author,
        location=record.permanent_location or holding.location,
        lookup=Lookup.LIVE,
        circulation_status=record.circulation_status,
    )
