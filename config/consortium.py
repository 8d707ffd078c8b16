"""The consortium graph: nodes, memberships, effective settings and identity rules.

``build_consortium`` turns a validated ``Config`` into a ``Consortium`` or reports every
issue it finds, each with its key path:

* structure: a membership naming no node, a cycle, a consortium below another (that
  is a hybrid), a library with children, a library that belongs to nothing;
* roles: terminals and NCIP peers only at member libraries (a non-client member runs
  none of the gateway's services), barcode rules only at libraries;
* identity: two libraries whose patron (or item) rules can match the same barcode,
  one terminal login or NCIP agency id used twice, one AO institution id given twice;
* settings: inheritance conflicts and locks (``config.inheritance``), a library
  without ILS endpoints or with malformed ones, ``lend_to`` naming no node, a library
  that lends to another without a proxy patron for it.

Every node's settings are resolved once, here (``config.resolved``): ``policy(node)``
gives them typed, every default applied; ``effective`` keeps each value with where it
came from.

The graph is a DAG, not a tree: a library may belong to two hybrids of one consortium
or to two unrelated consortia.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from .costs import CollectionPlan, CostPlan, build_cost_plans
from .errors import ConfigError, ConfigIssue, KeyPath
from .identity import BarcodePattern
from .inheritance import Resolved, resolve
from .models import GROUP_KINDS, LIBRARY_KINDS, Config, NcipPeer, Node, Terminal
from .resolved import ResolvedPolicy

__all__ = ["Consortium", "TerminalAccount", "build_consortium"]

_SIP2_ENDPOINT = re.compile(
    r"(?:tls://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})"
)
_URL = re.compile(r"https?://[^\s/]+(?:/\S*)?")


@dataclass(frozen=True)
class TerminalAccount:
    """A terminal login and the library (and location) it acts for."""

    member: str
    terminal: Terminal


@dataclass(frozen=True)
class Consortium:
    """A validated consortium: ask it who a barcode belongs to and what a library allows.

    Attributes:
        config: The configuration it was built from.
        effective: Every node's settings by dotted key, each with where it came from.
        policies: Every node's settings, resolved (what ``policy`` returns).
        patron_rules: Patron barcode rules and the library each identifies.
        item_rules: Item barcode rules and the library each identifies.
        terminals: Terminal accounts by login.
        ncip_peers: NCIP peers by agency id, with their library.
        institutions: Libraries by the institution ids (AO) they answer to.
        cost_plans: The cost-sharing plan of each consortium or hybrid that sets costs
            or declares jointly owned collections (``config.costs``), by node.
    """

    config: Config
    effective: Mapping[str, Mapping[str, Resolved]]
    policies: Mapping[str, ResolvedPolicy]
    patron_rules: tuple[tuple[BarcodePattern, str], ...]
    item_rules: tuple[tuple[BarcodePattern, str], ...]
    terminals: Mapping[str, TerminalAccount]
    ncip_peers: Mapping[str, tuple[str, NcipPeer]]
    institutions: Mapping[str, str]
    cost_plans: Mapping[str, CostPlan] = field(default_factory=dict)

    @property
    def nodes(self) -> Mapping[str, Node]:
        """Every node by id."""
        return self.config.nodes

    @cached_property
    def libraries(self) -> tuple[str, ...]:
        """The ids of the library nodes (members and non-client members)."""
        return tuple(n for n, node in self.nodes.items() if node.kind in LIBRARY_KINDS)

    @cached_property
    def ancestors(self) -> Mapping[str, frozenset[str]]:
        """Every node's ancestors (not the node itself)."""
        found: dict[str, frozenset[str]] = {}

        def walk(node_id: str) -> frozenset[str]:
            if node_id not in found:
                parents = [m.parent for m in self.nodes[node_id].memberships]
                found[node_id] = frozenset(parents).union(*(walk(p) for p in parents))
            return found[node_id]

        for node_id in self.nodes:
            walk(node_id)
        return found

    def policy(self, node_id: str) -> ResolvedPolicy:
        """The effective settings of a node, every default applied (``KeyError`` for an
        unknown node; where each value came from is in ``effective``)."""
        return self.policies[node_id]

    def home_of(self, patron_barcode: str) -> str | None:
        """The library a patron card belongs to, by the barcode rules."""
        return next((lib for rule, lib in self.patron_rules if rule.matches(patron_barcode)), None)

    def owner_of(self, item_barcode: str) -> str | None:
        """The library an item belongs to, by the barcode rules."""
        return next((lib for rule, lib in self.item_rules if rule.matches(item_barcode)), None)

    def collection_of(self, item_barcode: str) -> CollectionPlan | None:
        """The jointly owned collection an item belongs to, if any."""
        return next(
            (
                found
                for plan in self.cost_plans.values()
                if (found := plan.collection_of(item_barcode)) is not None
            ),
            None,
        )

    def in_network(self, library: str, network: tuple[str, ...] | None, owner: str) -> bool:
        """Whether ``library`` is in ``network`` (node ids, or ``None``: any consortium
        ``owner`` shares with it)."""
        mine = self.ancestors[library] | {library}
        if network is None:
            return bool(self.ancestors[library] & self.ancestors[owner])
        return bool(mine & set(network))


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known nodes: {', '.join(sorted(choices))}"


def _structure(nodes: Mapping[str, Node]) -> Iterator[ConfigIssue]:
    ids = list(nodes)
    for node_id, node in nodes.items():
        seen: set[str] = set()
        for index, membership in enumerate(node.memberships):
            path: KeyPath = ("nodes", node_id, "memberships", index, "parent")
            parent = nodes.get(membership.parent)
            if parent is None:
                yield ConfigIssue(
                    path, f"{membership.parent!r} is not a node", _suggest(membership.parent, ids)
                )
            elif parent.kind in LIBRARY_KINDS:
                yield ConfigIssue(
                    path,
                    f"{membership.parent} is a library and cannot have members",
                    "only consortium, hybrid and pass_through nodes have members",
                )
            if membership.parent in seen:
                yield ConfigIssue(path, f"{node_id} belongs to {membership.parent} twice")
            seen.add(membership.parent)
        if node.kind == "consortium" and node.memberships:
            yield ConfigIssue(
                ("nodes", node_id, "kind"),
                "a consortium is the top of its graph but this one belongs to another",
                'a consortium that is a member of another is kind = "hybrid"',
            )
        if node.kind != "consortium" and not node.memberships:
            yield ConfigIssue(
                ("nodes", node_id, "memberships"),
                f"a {node.kind} node must belong to at least one consortium, hybrid or "
                "pass-through profile",
                'add memberships = ["<parent id>"]',
            )
        yield from _roles(node_id, node)


def _roles(node_id: str, node: Node) -> Iterator[ConfigIssue]:
    if node.kind != "member":
        for name in ("terminals", "ncip_peers"):
            if getattr(node, name):
                yield ConfigIssue(
                    ("nodes", node_id, name),
                    f"a {node.kind} node has no {name.replace('_', ' ')}",
                    "terminals and NCIP peers belong to member libraries; a non-client "
                    "member runs none of the gateway's services"
                    if node.kind == "non_client"
                    else "terminals and NCIP peers belong to member libraries",
                )
    if node.kind in GROUP_KINDS:
        for name in ("patrons", "items", "institution_ids"):
            if getattr(node, name):
                yield ConfigIssue(
                    ("nodes", node_id, name),
                    f"barcode and institution rules belong to libraries, not to a {node.kind}",
                    "move the rule to the library it identifies",
                )


def _order(nodes: Mapping[str, Node]) -> tuple[list[str], list[ConfigIssue]]:
    """Node ids with parents first; a cycle is reported once."""
    order: list[str] = []
    state: dict[str, str] = {}
    issues: list[ConfigIssue] = []

    def visit(node_id: str, trail: list[str]) -> None:
        if state.get(node_id) == "done":
            return
        if state.get(node_id) == "active":
            cycle = [*trail[trail.index(node_id) :], node_id]
            issues.append(
                ConfigIssue(
                    ("nodes", node_id, "memberships"),
                    "membership cycle: " + " → ".join(cycle),
                    "a node cannot be its own ancestor; remove one of these memberships",
                )
            )
            return
        state[node_id] = "active"
        for membership in nodes[node_id].memberships:
            visit(membership.parent, [*trail, node_id])
        state[node_id] = "done"
        order.append(node_id)

    for node_id in nodes:
        visit(node_id, [])
    return order, issues


def _overlaps(
    nodes: Mapping[str, Node], attribute: str, what: str
) -> tuple[list[tuple[BarcodePattern, str]], list[ConfigIssue]]:
    rules: list[tuple[BarcodePattern, str, int]] = []
    issues: list[ConfigIssue] = []
    for node_id, node in nodes.items():
        for index, text in enumerate(getattr(node, attribute)):
            rule = BarcodePattern.parse(text)
            for other, other_id, _ in rules:
                if other_id == node_id:
                    continue
                example = rule.overlap_example(other)
                if example is not None:
                    issues.append(
                        ConfigIssue(
                            ("nodes", node_id, attribute, index),
                            f"{what} rule {text!r} of {node_id} overlaps {other.text!r} of "
                            f"{other_id} (both match {example!r})",
                            "make the rules disjoint, e.g. by a longer prefix or a fixed length",
                        )
                    )
            rules.append((rule, node_id, index))
    return [(rule, node_id) for rule, node_id, _ in rules], issues


def _unique(
    nodes: Mapping[str, Node], attribute: str, key: str, what: str
) -> tuple[dict[str, tuple[str, object]], list[ConfigIssue]]:
    found: dict[str, tuple[str, object]] = {}
    issues: list[ConfigIssue] = []
    for node_id, node in nodes.items():
        for index, entry in enumerate(getattr(node, attribute)):
            name = entry if isinstance(entry, str) else getattr(entry, key)
            if name in found:
                issues.append(
                    ConfigIssue(
                        ("nodes", node_id, attribute, index),
                        f"{what} {name!r} is already used by {found[name][0]}",
                        f"each {what} identifies exactly one library",
                    )
                )
            else:
                found[name] = (node_id, entry)
    return found, issues


def _settings(consortium: Consortium) -> Iterator[ConfigIssue]:
    for node_id in consortium.libraries:
        policy = consortium.policy(node_id)
        where = consortium.effective[node_id]["ils.endpoints"].source or node_id
        if not policy.ils.endpoints:
            yield ConfigIssue(
                ("nodes", node_id, "ils", "endpoints"),
                f"library {node_id} has no ILS endpoints",
                'set ils.endpoints = ["host:port"] (SIP2) or ["https://…"] (NCIP)',
            )
        for index, endpoint in enumerate(policy.ils.endpoints):
            pattern = _URL if policy.ils.adapter == "ncip" else _SIP2_ENDPOINT
            match = pattern.fullmatch(endpoint)
            port_ok = policy.ils.adapter == "ncip" or (
                match is not None and 0 < int(match.group("port")) < 65536
            )
            if match is None or not port_ok:
                expected = "an http(s) URL" if policy.ils.adapter == "ncip" else "host:port"
                yield ConfigIssue(
                    ("nodes", where, "ils", "endpoints", index),
                    f"{endpoint!r} is not {expected} (adapter {policy.ils.adapter})",
                    "SIP2: host:port or tls://host:port; NCIP: https://host/path",
                )
    for node_id in consortium.nodes:
        lend_to = consortium.policy(node_id).circulation.lend_to or ()
        source = consortium.effective[node_id]["circulation.lend_to"].source or node_id
        for name in lend_to:
            if name not in consortium.nodes and source == node_id:
                yield ConfigIssue(
                    ("nodes", node_id, "circulation", "lend_to"),
                    f"lend_to names {name!r}, which is not a node",
                    _suggest(name, list(consortium.nodes)),
                )
    yield from _proxies(consortium)


def _proxies(consortium: Consortium) -> Iterator[ConfigIssue]:
    for owner in consortium.libraries:
        circulation = consortium.policy(owner).circulation
        missing = [
            home
            for home in consortium.libraries
            if home != owner
            and consortium.in_network(home, circulation.lend_to, owner)
            and not (circulation.proxy_patrons or {}).get(home)
            and circulation.proxy_patron_template is None
        ]
        if missing:
            yield ConfigIssue(
                ("nodes", owner, "circulation", "proxy_patrons"),
                f"{owner} lends to patrons of {', '.join(missing)} but has no proxy patron "
                "account for them",
                'set circulation.proxy_patron_template (e.g. "ILL-{home}") or '
                "proxy_patrons.<home> at the library or above it",
            )
        for home in circulation.proxy_patrons or {}:
            if home not in consortium.libraries:
                yield ConfigIssue(
                    ("nodes", owner, "circulation", "proxy_patrons", home),
                    f"proxy_patrons names {home!r}, which is not a library",
                    _suggest(home, list(consortium.libraries)),
                )


def build_consortium(config: Config) -> Consortium:
    """Validate the graph and resolve every node's settings.

    Raises:
        ConfigError: With every issue found, each with its key path.
    """
    nodes = config.nodes
    issues = list(_structure(nodes))
    if issues:
        raise ConfigError.of(issues)
    order, cycles = _order(nodes)
    if cycles:
        raise ConfigError.of(cycles)
    effective, inherited = resolve(nodes, order)
    issues.extend(inherited)
    patrons, found = _overlaps(nodes, "patrons", "patron barcode")
    issues.extend(found)
    items, found = _overlaps(nodes, "items", "item barcode")
    issues.extend(found)
    terminals, found = _unique(nodes, "terminals", "login", "terminal login")
    issues.extend(found)
    peers, found = _unique(nodes, "ncip_peers", "agency_id", "NCIP agency id")
    issues.extend(found)
    institutions, found = _unique(nodes, "institution_ids", "", "institution id")
    issues.extend(found)
    policies = {
        node_id: ResolvedPolicy.from_keys({key: r.value for key, r in values.items()})
        for node_id, values in effective.items()
    }
    consortium = Consortium(
        config,
        effective,
        policies,
        tuple(patrons),
        tuple(items),
        {
            login: TerminalAccount(member, entry)  # type: ignore[arg-type]
            for login, (member, entry) in terminals.items()
        },
        {agency: (member, entry) for agency, (member, entry) in peers.items()},  # type: ignore[misc]
        {name: member for name, (member, _) in institutions.items()},
    )
    issues.extend(_settings(consortium))
    if issues:
        raise ConfigError.of(issues)
    plans, found = build_cost_plans(consortium)
    if found:
        raise ConfigError.of(found)
    return replace(consortium, cost_plans=plans)
