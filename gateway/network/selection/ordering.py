"""Helpers every strategy shares: who may be asked at all, robust z-scores, and
seeded weighted random order.

Rules:

* **Eligibility** is decided once, the same way for every strategy: a member that is
  off-line (``Snapshot.offline``) is skipped (a request sent there would only time out),
  and so is a member that declared a capacity of 0 (not lending).  A member listed
  twice keeps its first entry.
* **Robust z-score**: ``(x - median) / (1.4826 * MAD)``, so one extreme member does
  not squash everyone else's differences.  When more than half the values are equal
  the MAD is 0; the mean absolute deviation (scaled by 1.2533) stands in, and when
  every value is equal each z is 0.
* **Random order** is weighted sampling without replacement (each draw picks a
  remaining item with probability proportional to its weight), done in one pass with
  Efraimidis and Spirakis's keys ``u^(1/w)``.  The generator is seeded from text (a
  strategy's seed, the request's id, the attempt), never from Python's salted
  ``hash``, so a ranking is the same in every process and every run.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from typing import TYPE_CHECKING, TypeVar

from gateway.network.selection.model import Exclusion

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gateway.network.selection.model import Candidate, LendingRequest, Snapshot

__all__ = ["eligible", "robust_z", "seeded_random", "weighted_order"]

T = TypeVar("T")

_MAD_SCALE = 1.4826  # makes the MAD estimate the standard deviation of normal data
_MEAN_AD_SCALE = 1.2533  # the same for the mean absolute deviation
_MIN_WEIGHT = 1e-9


def eligible(
    request: LendingRequest, snapshot: Snapshot
) -> tuple[list[Candidate], list[Exclusion]]:
    """The candidates any strategy may rank, and the ones skipped with why."""
    seen: set[str] = set()
    kept: list[Candidate] = []
    skipped: list[Exclusion] = []
    for candidate in request.candidates:
        member = candidate.member
        if member in seen:
            continue
        seen.add(member)
        if member in snapshot.offline:
            skipped.append(Exclusion(member, "off-line: its ILS fails the health checks"))
        elif snapshot.profile(member).capacity_per_day == 0:
            skipped.append(Exclusion(member, "not lending: declared capacity 0 per day"))
        else:
            kept.append(candidate)
    return kept, skipped


def robust_z(values: Sequence[float], *, clip: float | None = None) -> list[float]:
    """Each value's robust z-score among ``values`` (see the module documentation).

    Args:
        values: The values, one per candidate.
        clip: If given, each z is clipped to ``[-clip, clip]``.
    """
    if not values:
        return []
    centre = statistics.median(values)
    deviations = [abs(v - centre) for v in values]
    scale = _MAD_SCALE * statistics.median(deviations)
    if scale == 0.0:
        scale = _MEAN_AD_SCALE * statistics.fmean(deviations)
    if scale == 0.0:
        return [0.0] * len(values)
    if clip is None:
        return [(v - centre) / scale for v in values]
    return [max(-clip, min(clip, (v - centre) / scale)) for v in values]


def seeded_random(*parts: object) -> random.Random:
    """A generator seeded from the text of ``parts`` (stable across processes)."""
    text = "\x1f".join(str(part) for part in parts).encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def weighted_order(items: Sequence[T], weights: Sequence[float], rng: random.Random) -> list[T]:
    """``items`` in a random order where heavier items tend to come first.

    The first item is drawn with probability ``w_i / sum(w)``, the next among the
    rest the same way, and so on.  A weight of 0 or less counts as almost nothing.
    """
    keyed = [
        (rng.random() ** (1.0 / max(weight, _MIN_WEIGHT)), index)
        for index, weight in enumerate(weights)
    ]
    keyed.sort(reverse=True)
    return [items[index] for _, index in keyed]
