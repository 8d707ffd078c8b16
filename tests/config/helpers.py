"""Building small consortia in tests, from plain dictionaries as TOML would give them."""

from __future__ import annotations

from typing import Any

import pytest

from config.consortium import Consortium, build_consortium
from config.errors import ConfigError, ConfigIssue, format_path
from config.models import Config

_next_prefix = iter(range(100, 10_000))


def consortium(**settings: Any) -> dict[str, Any]:
    """A consortium node; settings are section dicts (``circulation={...}``) or keys."""
    return {"kind": "consortium", "name": "Consortium", **settings}


def group(kind: str, *parents: Any, **settings: Any) -> dict[str, Any]:
    """A hybrid or pass-through node below ``parents``."""
    return {"kind": kind, "name": kind.title(), "memberships": list(parents), **settings}


def library(*parents: Any, kind: str = "member", **settings: Any) -> dict[str, Any]:
    """A library below ``parents`` with its own barcode prefixes and an endpoint."""
    prefix = next(_next_prefix)
    node: dict[str, Any] = {
        "kind": kind,
        "name": f"Library {prefix}",
        "memberships": list(parents),
        "patrons": [f"2{prefix}*"] if kind == "member" else [],
        "items": [f"3{prefix}*"],
        "ils": {"endpoints": [f"127.0.0.1:{6000 + prefix}"]},
    }
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(node.get(key), dict):
            node[key] = {**node[key], **value}
        else:
            node[key] = value
    return node


PROXY = {"proxy_patron_template": "ILL-{home}"}


def build(nodes: dict[str, Any]) -> Consortium:
    """Validate and build; fails the test with the issues if there are any."""
    try:
        return build_consortium(Config.model_validate({"nodes": nodes}))
    except ConfigError as exc:  # pragma: no cover - only when a test is wrong
        pytest.fail(f"unexpected configuration errors:\n{exc}")


def issues(nodes: dict[str, Any]) -> list[ConfigIssue]:
    """The issues ``build_consortium`` reports (the models must validate)."""
    config = Config.model_validate({"nodes": nodes})
    with pytest.raises(ConfigError) as info:
        build_consortium(config)
    return list(info.value.issues)


def one_issue(nodes: dict[str, Any], path: str, *words: str) -> ConfigIssue:
    """The single issue reported, checked for its path and the words of its message."""
    found = issues(nodes)
    assert len(found) == 1, "\n".join(map(str, found))
    issue = found[0]
    assert format_path(issue.path) == path, str(issue)
    for word in words:
        assert word in issue.message, str(issue)
    return issue
