"""Listener hosts from the environment (``INTERLEND_LISTEN_HOST``, ``INTERLEND_ADMIN_HOST``)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from config.environment import ADMIN_HOST_ENV, LISTEN_HOST_ENV, apply_listener_environment
from config.errors import ConfigError
from config.loader import parse_config

if TYPE_CHECKING:
    from pathlib import Path

NODES = """
[nodes.top]
kind = "consortium"
name = "Top"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "interlend.toml"
    path.write_text(textwrap.dedent(text) + NODES, encoding="utf-8")
    return path


def test_listen_host_moves_every_sip2_listener_and_ncip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every SIP2 listener and the NCIP one bind the variable's host; ports stay."""
    monkeypatch.setenv(LISTEN_HOST_ENV, "0.0.0.0")
    path = _write(
        tmp_path,
        """
        [[gateway.sip2]]
        port = 6001
        [[gateway.sip2]]
        host = "127.0.0.2"
        port = 6002
        [gateway.ncip]
        port = 8081
        """,
    )
    config, _, _ = parse_config(path)
    assert [(x.host, x.port) for x in config.gateway.sip2] == [("0.0.0.0", 6001), ("0.0.0.0", 6002)]
    assert config.gateway.ncip is not None
    assert (config.gateway.ncip.host, config.gateway.ncip.port) == ("0.0.0.0", 8081)
    assert config.gateway.admin is not None
    assert config.gateway.admin.host == "127.0.0.1"


def test_listen_host_applies_to_the_default_listener_and_never_adds_ncip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file without listeners gets the default SIP2 listener on the host; NCIP stays off."""
    monkeypatch.setenv(LISTEN_HOST_ENV, "0.0.0.0")
    config, _, _ = parse_config(_write(tmp_path, ""))
    assert [(x.host, x.port) for x in config.gateway.sip2] == [("0.0.0.0", 6001)]
    assert config.gateway.ncip is None


def test_admin_host_beyond_loopback_still_needs_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin host from the environment is validated like one in the file."""
    monkeypatch.setenv(ADMIN_HOST_ENV, "0.0.0.0")
    with pytest.raises(ConfigError) as info:
        parse_config(_write(tmp_path, ""))
    assert "bearer tokens" in str(info.value.issues[0])
    path = _write(tmp_path, '[gateway.admin]\ntokens = [{ env = "T" }]\n')
    config, _, _ = parse_config(path)
    assert config.gateway.admin is not None
    assert config.gateway.admin.host == "0.0.0.0"


def test_unset_or_empty_variables_change_nothing() -> None:
    """Without the variables (or with empty ones) the raw data is untouched."""
    data: dict[str, object] = {"gateway": {"sip2": [{"host": "127.0.0.1"}]}}
    apply_listener_environment(data, {LISTEN_HOST_ENV: " ", ADMIN_HOST_ENV: ""})
    assert data == {"gateway": {"sip2": [{"host": "127.0.0.1"}]}}


def test_malformed_shapes_are_left_for_validation() -> None:
    """A ``gateway`` or ``sip2`` of the wrong type is not touched (validation reports it)."""
    data: dict[str, object] = {"gateway": "oops"}
    apply_listener_environment(data, {LISTEN_HOST_ENV: "0.0.0.0"})
    assert data == {"gateway": "oops"}
    data = {"gateway": {"sip2": "oops", "admin": 3}}
    apply_listener_environment(data, {LISTEN_HOST_ENV: "0.0.0.0", ADMIN_HOST_ENV: "0.0.0.0"})
    assert data == {"gateway": {"sip2": "oops", "admin": 3}}
