"""The demo network as the tests configure it: short time-outs, no chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.models import Config

__all__ = ["circulation_demo", "short_timeouts", "without_chain"]


def short_timeouts(config: Config, seconds: float = 1.0) -> Config:
    """The demo configuration with every member ILS's request time-out shortened."""
    node = config.nodes["demo"]
    ils = node.ils.model_copy(update={"timeout_s": seconds, "connect_timeout_s": seconds})
    return config.model_copy(
        update={"nodes": {**config.nodes, "demo": node.model_copy(update={"ils": ils})}}
    )


def without_chain(config: Config) -> Config:
    """The demo configuration with ``gateway.ledger.backend = "none"``: loan events go
    to the in-memory queue, as the circulation tests inspect them there (the embedded
    chain has its own tests, ``test_ledger_demo.py``)."""
    ledger = config.gateway.ledger.model_copy(update={"backend": "none"})
    return config.model_copy(
        update={"gateway": config.gateway.model_copy(update={"ledger": ledger})}
    )


def circulation_demo(config: Config) -> Config:
    """Short time-outs and no chain: the ``demo`` fixture's configuration."""
    return without_chain(short_timeouts(config))
