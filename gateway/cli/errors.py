"""Messages the commands share."""

from __future__ import annotations

__all__ = ["port_in_use", "sole_error"]


def port_in_use(exc: OSError) -> str:
    """The one line printed when a listener cannot bind."""
    return (
        f"interlend: a port is already in use ({exc.strerror or exc}); "
        "choose another, or 0 for a free one"
    )


def sole_error(exc: BaseException) -> BaseException:
    """The one error inside nested exception groups of one (what trio's nurseries wrap
    a single failure in), or ``exc`` itself when there is not exactly one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
