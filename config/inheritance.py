"""Inheritance of settings down the consortium graph, with locks and explicit conflicts.

Rules, applied per node and per setting, parents before children:

1. A value set at the node wins, unless a value inherited from a parent is *locked*
   (the parent, or a node above it, listed the key in ``lock``); overriding a locked
   value is an error, and the locked value stays in force.
2. Otherwise the node inherits.  With one parent (or several that agree) it takes
   that value.  When parents disagree:

   a. locked values beat unlocked ones;
   b. then the membership with the best declared ``precedence`` (1 before 2; declared
      before undeclared) wins;
   c. then the setting's own rule decides: the most restrictive value for limits and
      privileges (smallest cap, intersection of what is allowed, union of what is
      excluded, "true" for a block);
   d. a setting without such a rule (an endpoint, a time-out), or locked values that
      still disagree, is an error: the operator must declare precedence.

3. A setting no ancestor sets has its default.

Each result says where the value came from and why, for ``interlend check-config``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigIssue
from .models import Merge, Node, Section, policy_keys

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["Resolved", "local_values", "resolve"]


@dataclass(frozen=True)
class Resolved:
    """The effective value of one setting at one node, and where it came from.

    Attributes:
        value: The value.
        source: The node that set it (``None``: the built-in default).
        reason: Why this value, in words.
        locked_by: The node whose lock keeps it from being overridden, if any.
    """

    value: object
    source: str | None
    reason: str
    locked_by: str | None = None


def local_values(node: Node) -> dict[str, object]:
    """The settings a node sets itself, by dotted key."""
    values: dict[str, object] = {}

    def walk(prefix: str, section: Section) -> None:
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, Section):
                walk(f"{prefix}.{name}", value)
            elif value is not None:
                values[f"{prefix}.{name}"] = value

    for name in ("circulation", "ils", "lending", "cost"):
        walk(name, getattr(node, name))
    return values


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _merge(merge: Merge, values: Sequence[object]) -> object:
    match merge:
        case Merge.MIN:
            return min(values)  # type: ignore[type-var]
        case Merge.ANY:
            return any(values)
        case Merge.INTERSECT:
            first, *rest = values
            assert isinstance(first, tuple)
            return tuple(v for v in first if all(v in other for other in rest))  # type: ignore[operator]
        case Merge.UNION:
            merged: list[object] = []
            for value in values:
                assert isinstance(value, tuple)
                merged.extend(v for v in value if v not in merged)
            return tuple(merged)
    raise AssertionError(f"no merge for {merge}")  # pragma: no cover


def _path(node_id: str, key: str) -> tuple[str, ...]:
    return ("nodes", node_id, *key.split("."))


def _inherit(
    node_id: str,
    key: str,
    merge: Merge,
    candidates: list[tuple[str, int | None, Resolved]],
    issues: list[ConfigIssue],
) -> Resolved:
    """Pick the value a node inherits from parents that have one (see module rules)."""
    locked = [c for c in candidates if c[2].locked_by is not None]
    pool = locked or candidates
    values = {repr(c[2].value) for c in pool}
    if len(values) == 1:
        parent, _, first = pool[0]
        via = f" via {parent}" if parent != first.source else ""
        reason = f"inherited from {first.source}{via}"
        if first.locked_by is not None:
            reason += f", locked by {first.locked_by}"
        return Resolved(first.value, first.source, reason, first.locked_by)
    declared = [c for c in pool if c[1] is not None]
    if declared:
        best = min(c[1] for c in declared)  # type: ignore[type-var]
        winners = [c for c in declared if c[1] == best]
        if len(winners) == 1:
            parent, _, chosen = winners[0]
            losers = ", ".join(c[0] for c in pool if c is not winners[0])
            return Resolved(
                chosen.value,
                chosen.source,
                f"membership of {parent} takes precedence over {losers}",
                chosen.locked_by,
            )
        pool = winners
    shown = ", ".join(f"{c[0]} ({_show(c[2].value)})" for c in pool)
    if locked or merge is Merge.NEEDS_PRECEDENCE:
        what = "locked values" if locked else "values"
        issues.append(
            ConfigIssue(
                ("nodes", node_id, "memberships"),
                f"{key}: conflicting {what} from {shown}",
                f"declare precedence on {node_id}'s memberships, e.g. "
                f'{{ parent = "{pool[0][0]}", precedence = 1 }}',
            )
        )
        parent, _, chosen = pool[0]
        return Resolved(chosen.value, chosen.source, "unresolved conflict", chosen.locked_by)
    value = _merge(merge, [c[2].value for c in pool])
    return Resolved(value, node_id, f"most restrictive of {shown}")


def resolve(
    nodes: Mapping[str, Node], order: Sequence[str]
) -> tuple[dict[str, dict[str, Resolved]], list[ConfigIssue]]:
    """Resolve every setting of every node.

    Args:
        nodes: The nodes by id; memberships must refer to existing nodes.
        order: Every node id, parents before children.

    Returns:
        The resolved settings per node, and the issues found (overridden locks,
        conflicts needing precedence, locks of values a node does not set).
    """
    keys = policy_keys()
    issues: list[ConfigIssue] = []
    resolved: dict[str, dict[str, Resolved]] = {}
    for node_id in order:
        node = nodes[node_id]
        local = local_values(node)
        for index, key in enumerate(node.lock):
            if key not in keys:
                issues.append(
                    ConfigIssue(
                        ("nodes", node_id, "lock", index),
                        f"{key!r} is not a setting that can be locked",
                        "use a dotted key such as circulation.loan_cap_per_owner",
                    )
                )
            elif key not in local:
                issues.append(
                    ConfigIssue(
                        ("nodes", node_id, "lock", index),
                        f"{key} is locked but not set at {node_id}",
                        f"set {key} at {node_id}, or remove it from lock",
                    )
                )
        locks = set(node.lock)
        mine: dict[str, Resolved] = {}
        for key, spec in keys.items():
            candidates = [
                (m.parent, m.precedence, resolved[m.parent][key])
                for m in node.memberships
                if resolved[m.parent][key].source is not None
            ]
            if key in local:
                locked = [c for c in candidates if c[2].locked_by is not None]
                if locked:
                    _, _, lock = locked[0]
                    issues.append(
                        ConfigIssue(
                            _path(node_id, key),
                            f"{key} is locked by {lock.locked_by} "
                            f"({_show(lock.value)}) and cannot be overridden here",
                            f"remove it from {node_id}, or unlock it at {lock.locked_by}",
                        )
                    )
                    mine[key] = _inherit(node_id, key, spec.merge, candidates, issues)
                else:
                    here = key in locks
                    mine[key] = Resolved(
                        local[key],
                        node_id,
                        "set here" + (", locked" if here else ""),
                        node_id if here else None,
                    )
            elif candidates:
                mine[key] = _inherit(node_id, key, spec.merge, candidates, issues)
            else:
                mine[key] = Resolved(spec.default, None, "default")
        resolved[node_id] = mine
    return resolved, issues
