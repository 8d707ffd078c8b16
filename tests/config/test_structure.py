"""The consortium graph's shape, roles and identity rules are checked with clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.errors import format_path
from config.models import Config

from .helpers import PROXY, build, consortium, group, issues, library, one_issue

PASSWORD_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43


def test_a_dangling_parent_is_named_with_a_suggestion() -> None:
    """A membership naming no node is an error that suggests the close name."""
    issue = one_issue(
        {"metro": consortium(circulation=PROXY), "lib": library("mertro")},
        "nodes.lib.memberships[0].parent",
        "'mertro' is not a node",
    )
    assert issue.hint == "did you mean 'metro'?"


def test_a_cycle_is_reported_with_its_path() -> None:
    """A node that is its own ancestor is an error listing the cycle."""
    nodes = {
        "top": consortium(circulation=PROXY),
        "a": group("hybrid", "top", "c"),
        "b": group("hybrid", "a"),
        "c": group("hybrid", "b"),
        "lib": library("a"),
    }
    found = issues(nodes)
    assert len(found) == 1
    assert "membership cycle: a → c → b → a" in found[0].message


@pytest.mark.parametrize(
    ("nodes", "path", "words"),
    [
        (
            {"top": consortium(memberships=["other"]), "other": consortium()},
            "nodes.top.kind",
            ["belongs to another"],
        ),
        ({"top": consortium(), "lib": library()}, "nodes.lib.memberships", ["at least one"]),
        (
            {"top": consortium(circulation=PROXY), "a": library("top"), "b": library("a")},
            "nodes.b.memberships[0].parent",
            ["is a library"],
        ),
        (
            {"top": consortium(circulation=PROXY), "lib": library("top", "top")},
            "nodes.lib.memberships[1].parent",
            ["twice"],
        ),
        (
            {
                "top": consortium(circulation=PROXY),
                "lib": library(
                    "top",
                    kind="non_client",
                    terminals=[{"login": "k", "password_hash": PASSWORD_HASH}],
                ),
            },
            "nodes.lib.terminals",
            ["non_client node has no terminals"],
        ),
        (
            {"top": consortium(patrons=["21*"]), "lib": library("top")},
            "nodes.top.patrons",
            ["belong to libraries"],
        ),
        (
            {
                "top": consortium(ncip_peers=[{"agency_id": "X"}]),
                "lib": library("top", circulation=PROXY),
            },
            "nodes.top.ncip_peers",
            ["no ncip peers"],
        ),
    ],
    ids=[
        "consortium below another",
        "library in nothing",
        "library with a member",
        "same parent twice",
        "non-client with a terminal",
        "barcode rule on a consortium",
        "NCIP peer on a consortium",
    ],
)
def test_roles_and_shape(nodes: dict[str, object], path: str, words: list[str]) -> None:
    """Each misplaced node or role gives one error at its key."""
    found = issues(nodes)
    assert [format_path(i.path) for i in found] == [path], "\n".join(map(str, found))
    for word in words:
        assert word in found[0].message


def test_overlapping_patron_rules_are_an_error_with_an_example() -> None:
    """Two libraries whose patron rules can match one card: the error shows the card."""
    nodes = {
        "top": consortium(circulation=PROXY),
        "a": library("top", patrons=["2100*"]),
        "b": library("top", patrons=["21001#########"]),
    }
    one_issue(nodes, "nodes.b.patrons[0]", "overlaps '2100*' of a", "'21001000000000'")


def test_overlapping_item_rules_are_an_error() -> None:
    """The same holds for item rules."""
    nodes = {
        "top": consortium(circulation=PROXY),
        "a": library("top", items=["31###"]),
        "b": library("top", items=["3?0##"]),
    }
    one_issue(nodes, "nodes.b.items[0]", "item barcode rule", "'31000'")


def test_one_library_may_repeat_itself() -> None:
    """Overlapping rules of the same library are harmless."""
    c = build({"top": consortium(circulation=PROXY), "a": library("top", patrons=["21*", "210*"])})
    assert c.home_of("2109") == "a"


@pytest.mark.parametrize(
    ("attribute", "entry", "words"),
    [
        ("terminals", {"login": "kiosk", "password_hash": PASSWORD_HASH}, "terminal login 'kiosk'"),
        ("ncip_peers", {"agency_id": "AG"}, "NCIP agency id 'AG'"),
        ("institution_ids", "inst", "institution id 'inst'"),
    ],
)
def test_identities_are_unique(attribute: str, entry: object, words: str) -> None:
    """A login, an NCIP agency or an AO id identifies exactly one library."""
    nodes = {"top": consortium(circulation=PROXY), "a": library("top"), "b": library("top")}
    nodes["a"][attribute] = nodes["b"][attribute] = [entry]
    one_issue(nodes, f"nodes.b.{attribute}[0]", words, "already used by a")


def test_libraries_need_endpoints_that_fit_their_adapter() -> None:
    """No endpoint, a malformed SIP2 address, or a SIP2 address for NCIP are errors."""
    none = {"top": consortium(circulation=PROXY), "lib": library("top", ils={"endpoints": []})}
    one_issue(none, "nodes.lib.ils.endpoints", "no ILS endpoints")
    bad = {"top": consortium(circulation=PROXY), "lib": library("top", ils={"endpoints": ["host"]})}
    one_issue(bad, "nodes.lib.ils.endpoints[0]", "'host' is not host:port")
    port = {
        "top": consortium(circulation=PROXY),
        "lib": library("top", ils={"endpoints": ["h:70000"]}),
    }
    one_issue(port, "nodes.lib.ils.endpoints[0]", "host:port")
    ncip = {
        "top": consortium(circulation=PROXY),
        "lib": library("top", ils={"adapter": "ncip", "endpoints": ["h:80"]}),
    }
    one_issue(ncip, "nodes.lib.ils.endpoints[0]", "an http(s) URL")


def test_an_inherited_endpoint_is_reported_where_it_is_set() -> None:
    """A shared ILS set on a hybrid is checked once, at the hybrid's key."""
    nodes = {
        "top": consortium(circulation=PROXY),
        "shared": group("hybrid", "top", ils={"endpoints": ["not an address"]}),
        "lib": library("shared", ils={}),
    }
    del nodes["lib"]["ils"]
    assert {format_path(i.path) for i in issues(nodes)} == {"nodes.shared.ils.endpoints[0]"}


def test_good_endpoints() -> None:
    """host:port, tls://host:port, IPv6 in brackets, and https URLs for NCIP."""
    nodes = {
        "top": consortium(circulation=PROXY),
        "a": library(
            "top", ils={"endpoints": ["sip.example.org:6001", "tls://10.0.0.1:6443", "[::1]:6001"]}
        ),
        "b": library(
            "top", ils={"adapter": "ncip", "endpoints": ["https://ncip.example.org/ncip"]}
        ),
    }
    assert build(nodes).policy("b").ils.adapter == "ncip"


def test_lend_to_must_name_nodes() -> None:
    """A lending network naming no node is an error where it is set."""
    nodes = {
        "top": consortium(circulation={**PROXY, "lend_to": ["topp"]}),
        "lib": library("top"),
    }
    issue = one_issue(nodes, "nodes.top.circulation.lend_to", "'topp'")
    assert issue.hint == "did you mean 'top'?"


def test_every_lending_relation_needs_a_proxy_patron() -> None:
    """A library that lends to another needs a proxy account for that library's patrons."""
    nodes = {"top": consortium(), "a": library("top"), "b": library("top")}
    found = issues(nodes)
    assert sorted(format_path(i.path) for i in found) == [
        "nodes.a.circulation.proxy_patrons",
        "nodes.b.circulation.proxy_patrons",
    ]
    assert "lends to patrons of b" in found[0].message
    nodes["a"]["circulation"] = {"proxy_patrons": {"b": "ILL-B"}}
    nodes["b"]["circulation"] = {"proxy_patrons": {"a": "ILL-A"}}
    assert build(nodes).nodes["a"].circulation.proxy_patrons == {"b": "ILL-B"}


def test_proxy_patrons_must_name_libraries() -> None:
    """A proxy for a home that is not a library is an error."""
    nodes = {
        "top": consortium(circulation=PROXY),
        "lib": library("top", circulation={"proxy_patrons": {"nowhere": "X"}}),
    }
    one_issue(nodes, "nodes.lib.circulation.proxy_patrons.nowhere", "not a library")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "library"}, "Input should be"),
        ({"colour": "red"}, "Extra inputs"),
        ({"patrons": ["21*0"]}, "'*' may only end"),
        ({"terminals": [{"login": "k", "password_hash": "demo"}]}, "scrypt$N$r$p$salt$hash"),
        ({"circulation": {"proxy_patron_template": "ILL"}}, "{home}"),
        ({"ils": {"dialect": {"timezone": "Mars/Olympus"}}}, "unknown time zone"),
        ({"ils": {"password": {"env": "A", "file": "/b"}}}, "exactly one of env or file"),
        ({"circulation": {"loan_cap_per_owner": -1}}, "greater than or equal to 0"),
    ],
)
def test_model_errors(change: dict[str, object], message: str) -> None:
    """Wrong kinds, unknown keys and malformed values are refused by the models."""
    node = {**library("top"), **change}
    with pytest.raises(ValidationError, match=message.replace("$", r"\$").replace("{", r"\{")):
        Config.model_validate({"nodes": {"top": consortium(), "lib": node}})


def test_node_ids_are_plain_names() -> None:
    """Node ids are used in logs and keys: letters, digits, '_', '-', '.'."""
    with pytest.raises(ValidationError, match="node id 'a b'"):
        Config.model_validate({"nodes": {"a b": consortium()}})
