"""A small consortium whose members' ILSs are simulated ones the test runs: alpha over
SIP2, beta over NCIP, gamma wherever the test points it (a dead port, say)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PASSWORD_ENV", "write_config"]

PASSWORD_ENV = "INTERLEND_TEST_ILS_PASSWORD"
"""The variable the configuration reads every member's ILS password from."""


def write_config(
    path: Path, *, alpha: str, beta: str, gamma: str = "127.0.0.1:1", gateway: str = ""
) -> str:
    """Write the configuration to ``path``: alpha's SIP2 endpoint ``host:port``, beta's
    NCIP URL, gamma's SIP2 endpoint; ``gateway`` is TOML put first (a [gateway] table)."""
    body = f"""
        [nodes.top]
        kind = "consortium"
        name = "Top"
        circulation.proxy_patron_template = "ILL-{{home}}"
        ils.login = "gateway"
        ils.password = {{ env = "{PASSWORD_ENV}" }}
        ils.timeout_s = 5.0

        [nodes.alpha]
        kind = "member"
        name = "Alpha"
        memberships = ["top"]
        patrons = ["21001*"]
        items = ["31001*"]
        ils.endpoints = ["{alpha}"]
        ils.institution_id = "alpha"

        [nodes.beta]
        kind = "member"
        name = "Beta"
        memberships = ["top"]
        patrons = ["21002*"]
        items = ["31002*"]
        ils.adapter = "ncip"
        ils.endpoints = ["{beta}"]
        ils.institution_id = "beta"

        [nodes.gamma]
        kind = "member"
        name = "Gamma"
        memberships = ["top"]
        patrons = ["21003*"]
        items = ["31003*"]
        ils.endpoints = ["{gamma}"]
        ils.institution_id = "gamma"
        ils.connect_timeout_s = 1.0
        """
    path.write_text(textwrap.dedent(gateway) + textwrap.dedent(body), encoding="utf-8")
    return str(path)
