"""Lender selection: which member should fill a request several members could fill.

The pieces, each pure except the counters' async interface:

* ``model`` -- the values: ``LendingRequest``, ``Candidate``, ``MemberProfile``,
  ``MemberStats``, ``Snapshot``, ``Ranking``.
* ``counters`` -- ``SelectionCounters`` (async, shared by every gateway instance)
  and ``MemorySelectionCounters``; ``CounterBook`` is the decayed arithmetic.
* ``strategies`` -- the ``LenderStrategy`` protocol and ``make_strategy(name)``;
  ``fairshare`` (B8, the default) and ``baselines`` (B1-B4).
* ``explain`` -- a ranking in words and as JSON-ready data.
* ``shared`` -- ``StoreSelectionCounters``, the counters in the Redis state store.

The synthetic consortium the benchmark replays is ``bench/selection_trace.py``.

Use: read the counters for the candidates, build a ``Snapshot``, ``rank`` the
request, ask ``ranking.first()``; on a decline, rank
``request.with_decline(member)`` again with fresh counters.
"""

from __future__ import annotations

from gateway.network.selection.counters import (
    CounterBook,
    MemorySelectionCounters,
    SelectionCounters,
)
from gateway.network.selection.explain import as_dict, explain
from gateway.network.selection.fairshare import FairShare, FairShareSettings
from gateway.network.selection.model import (
    Availability,
    Candidate,
    CounterReading,
    Exclusion,
    LendingRequest,
    MemberProfile,
    MemberStats,
    RankedLender,
    Ranking,
    Snapshot,
    Term,
    profiles_from_consortium,
)
from gateway.network.selection.strategies import (
    DEFAULT_STRATEGY,
    STRATEGY_NAMES,
    LenderStrategy,
    make_strategy,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGY_NAMES",
    "Availability",
    "Candidate",
    "CounterBook",
    "CounterReading",
    "Exclusion",
    "FairShare",
    "FairShareSettings",
    "LenderStrategy",
    "LendingRequest",
    "MemberProfile",
    "MemberStats",
    "MemorySelectionCounters",
    "RankedLender",
    "Ranking",
    "SelectionCounters",
    "Snapshot",
    "Term",
    "as_dict",
    "explain",
    "make_strategy",
    "profiles_from_consortium",
]
