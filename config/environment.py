"""Listener addresses taken from the environment, over what the file says.

A container image ships one configuration for every place it runs, and its listeners
must bind ``0.0.0.0`` inside the container while the same file binds loopback on a
developer's machine.  Two variables decide that without editing the file:

* ``INTERLEND_LISTEN_HOST``: the host of every SIP2 listener (``[[gateway.sip2]]``,
  or the one default listener when the file has none) and of the NCIP listener when
  the file has one (it is never switched on from here);
* ``INTERLEND_ADMIN_HOST``: the host of the admin port.  It is separate because an
  admin port beyond loopback must have bearer tokens (``gateway.admin.tokens``): the
  usual validation applies to the value given here, and refuses it without them.

They apply to the raw file before validation, so ``check-config`` shows their effect
and a bad value is reported like any other.  An empty variable counts as unset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ADMIN_HOST_ENV", "LISTEN_HOST_ENV", "apply_listener_environment"]

LISTEN_HOST_ENV = "INTERLEND_LISTEN_HOST"
ADMIN_HOST_ENV = "INTERLEND_ADMIN_HOST"


def _table(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``data[key]`` when it is a table (created empty when missing)."""
    value = data.setdefault(key, {})
    return value if isinstance(value, dict) else None


def apply_listener_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Set the listeners' hosts in the raw configuration ``data`` from ``environ``.

    Values of the wrong shape (a ``gateway`` that is not a table, say) are left for the
    validation to report.
    """
    listen = environ.get(LISTEN_HOST_ENV, "").strip()
    admin = environ.get(ADMIN_HOST_ENV, "").strip()
    if not listen and not admin:
        return
    gateway = _table(data, "gateway")
    if gateway is None:
        return
    if listen:
        sip2 = gateway.setdefault("sip2", [{}])
        if isinstance(sip2, list):
            for listener in sip2:
                if isinstance(listener, dict):
                    listener["host"] = listen
        ncip = gateway.get("ncip")
        if isinstance(ncip, dict):
            ncip["host"] = listen
    if admin:
        table = _table(gateway, "admin")
        if table is not None:
            table["host"] = admin
