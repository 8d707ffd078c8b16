"""Messages the commands share."""

from __future__ import annotations

__all__ = ["port_in_use"]


def port_in_use(exc: OSError) -> str:
    """The one line printed when a listener cannot bind."""
    return (
        f"interlend: a port is already in use ({exc.strerror or exc}); "
        "choose another, or 0 for a free one"
    )
