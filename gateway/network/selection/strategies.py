"""The strategy interface and the strategies by name.

A strategy is pure: ``rank(request, snapshot)`` reads nothing but its arguments and
its own settings, and returns the whole rota with an explanation.  The caller reads
the counters into a ``Snapshot`` first (one round trip), asks the first lender of the
rota, and on a decline ranks again with ``request.with_decline(member)``.  What a
strategy does with decliners is its own rule: the baselines that never return to a
decliner drop it; Evergreen and fair-share ask it again only after everyone else.

Names, for configuration and the benchmark:

=========================  ====  ==========================================
``fair-share``             B8    ``fairshare.FairShare`` (the default)
``reshare-ratio``          B1    ``baselines.ReshareRatio``
``crosslink``              B2    ``baselines.CrossLink``
``dcb-availability``       B3    ``baselines.DcbAvailability``
``evergreen-proximity``    B4    ``baselines.EvergreenProximity``
=========================  ====  ==========================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gateway.network.selection.baselines import (
    CrossLink,
    DcbAvailability,
    EvergreenProximity,
    ReshareRatio,
)
from gateway.network.selection.fairshare import FairShare, FairShareSettings

if TYPE_CHECKING:
    from gateway.network.selection.model import LendingRequest, Ranking, Snapshot

__all__ = ["DEFAULT_STRATEGY", "STRATEGY_NAMES", "LenderStrategy", "make_strategy"]

DEFAULT_STRATEGY = "fair-share"
STRATEGY_NAMES = (
    "fair-share",
    "reshare-ratio",
    "crosslink",
    "dcb-availability",
    "evergreen-proximity",
)


class LenderStrategy(Protocol):
    """**Protocol:** orders the members that could fill a request."""

    @property
    def name(self) -> str:
        """The strategy's name (one of ``STRATEGY_NAMES`` for the shipped ones)."""
        ...

    def rank(self, request: LendingRequest, snapshot: Snapshot) -> Ranking:
        """The rota for ``request``: lenders to ask in order, and who was left out."""
        ...


def make_strategy(name: str = DEFAULT_STRATEGY, *, seed: int = 0) -> LenderStrategy:
    """A shipped strategy by name, with its default settings.

    Args:
        name: One of ``STRATEGY_NAMES``.
        seed: The seed of the strategies that draw at random (B4, B8).

    Raises:
        ValueError: For an unknown name.
    """
    match name:
        case "fair-share":
            return FairShare(FairShareSettings(seed=seed))
        case "reshare-ratio":
            return ReshareRatio()
        case "crosslink":
            return CrossLink()
        case "dcb-availability":
            return DcbAvailability()
        case "evergreen-proximity":
            return EvergreenProximity(seed=seed)
    raise ValueError(f"unknown lender-selection strategy {name!r}; one of {STRATEGY_NAMES}")
