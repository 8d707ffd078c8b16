"""Properties of inheritance over arbitrary consortium graphs."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import build

CAPS = st.none() | st.integers(0, 20)


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    """A random DAG: roots, groups below earlier nodes, libraries below groups."""
    nodes: dict[str, Any] = {}
    groups: list[str] = []

    def settings_for(node: dict[str, Any]) -> None:
        circulation: dict[str, Any] = {"proxy_patron_template": "P-{home}"} if not groups else {}
        cap = draw(CAPS)
        if cap is not None:
            circulation["loan_cap_per_owner"] = cap
        days = draw(st.none() | st.integers(1, 60))
        if days is not None:
            circulation["visitor_loan_days"] = days
        if circulation:
            node["circulation"] = circulation

    for index in range(draw(st.integers(1, 3))):
        root: dict[str, Any] = {"kind": "consortium", "name": f"root {index}"}
        settings_for(root)
        root.setdefault("circulation", {})["proxy_patron_template"] = "P-{home}"
        nodes[f"root{index}"] = root
        groups.append(f"root{index}")
    for index in range(draw(st.integers(0, 4))):
        parents = draw(st.lists(st.sampled_from(groups), min_size=1, max_size=2, unique=True))
        node: dict[str, Any] = {
            "kind": draw(st.sampled_from(["hybrid", "pass_through"])),
            "name": f"group {index}",
            "memberships": [{"parent": p, "precedence": n + 1} for n, p in enumerate(parents)],
        }
        settings_for(node)
        nodes[f"group{index}"] = node
        groups.append(f"group{index}")
    for index in range(draw(st.integers(1, 4))):
        parents = draw(st.lists(st.sampled_from(groups), min_size=1, max_size=3, unique=True))
        lib: dict[str, Any] = {
            "kind": "member",
            "name": f"library {index}",
            "memberships": [{"parent": p, "precedence": n + 1} for n, p in enumerate(parents)],
            "patrons": [f"2{index:03d}*"],
            "items": [f"3{index:03d}*"],
            "ils": {"endpoints": ["127.0.0.1:6001"]},
        }
        settings_for(lib)
        nodes[f"lib{index}"] = lib
    return nodes


@settings(max_examples=100)
@given(graphs(), st.data())
def test_adding_a_node_never_changes_another_node(
    nodes: dict[str, Any], data: st.DataObject
) -> None:
    """A new node (a library or a group) below existing ones leaves every existing
    node's effective policy exactly as it was."""
    before = build(nodes)
    groups = [n for n, node in nodes.items() if node["kind"] != "member"]
    parents = data.draw(st.lists(st.sampled_from(groups), min_size=1, max_size=2, unique=True))
    kind = data.draw(st.sampled_from(["member", "hybrid"]))
    new: dict[str, Any] = {
        "kind": kind,
        "name": "newcomer",
        "memberships": [{"parent": p, "precedence": n + 1} for n, p in enumerate(parents)],
        "circulation": {"loan_cap_per_owner": data.draw(st.integers(0, 9))},
    }
    if kind == "member":
        new |= {
            "patrons": ["29999*"],
            "items": ["39999*"],
            "ils": {"endpoints": ["127.0.0.1:7001"]},
        }
    after = build({**nodes, "newcomer": new})
    for node_id in nodes:
        assert after.effective[node_id] == before.effective[node_id], node_id
