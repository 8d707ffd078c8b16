"""CSV and JSON renderings of a settlement (names in ``gateway.reports.records``).

CSV is RFC 4180 with ``\\r\\n`` line ends and a header row; JSON is UTF-8 with sorted
keys and a final newline, so the same settlement always gives the same bytes (the
webhook signs them, and people diff them).
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

from gateway.reports.records import (
    ALLOCATION_COLUMNS,
    STATEMENT_COLUMNS,
    TRANSFER_COLUMNS,
    allocation_rows,
    settlement_document,
    statement_records,
    transfer_rows,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from gateway.settlement.result import Settlement

__all__ = [
    "allocations_csv",
    "settlement_csv",
    "settlement_json",
    "to_csv",
    "to_json",
    "transfers_csv",
]


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    """``rows`` under a header of ``columns`` (a missing value is an empty cell)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_json(document: object) -> str:
    """``document`` as canonical JSON text (sorted keys, two-space indent, final newline)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def settlement_csv(settlement: Settlement) -> str:
    """One row per library: its statement and what it pays and receives after netting."""
    return to_csv(STATEMENT_COLUMNS, (r.row() for r in statement_records(settlement)))


def allocations_csv(settlement: Settlement) -> str:
    """One row per library per cost or pool: the shares each formula gave."""
    return to_csv(ALLOCATION_COLUMNS, allocation_rows(settlement))


def transfers_csv(settlement: Settlement) -> str:
    """One row per payment after netting: who pays whom how much."""
    return to_csv(TRANSFER_COLUMNS, transfer_rows(settlement))


def settlement_json(settlement: Settlement) -> str:
    """The whole settlement (statements, allocations, transfers) as one JSON document."""
    return to_json(settlement_document(settlement))
