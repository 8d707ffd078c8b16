"""``interlend check-config``: validate a file and show every library's effective policy.

A valid file prints, per library, every setting with its value and where it came from
(set here, inherited from which node, which parent won a conflict and why, or the
default).  An invalid file prints each issue as ``file:line:column: key.path: message
(hint: …)`` and exits 1.  ``--json`` prints the same for tools.  Bad input never
produces a traceback.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from adapters.tls import tls_issues
from config.errors import ConfigError, format_path
from config.loader import load_consortium
from config.models import CostItem, SecretRef
from config.provenance import policy_rows

if TYPE_CHECKING:
    from collections.abc import Mapping
    from fractions import Fraction

    from config.consortium import Consortium
    from config.costs import CollectionPlan, CostPlan

__all__ = ["add_parsers", "check_config"]


def _jsonable(value: object) -> object:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, SecretRef | Decimal | Path | date):
        return str(value)
    if isinstance(value, CostItem):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def _parents(consortium: Consortium, node_id: str) -> str:
    node = consortium.nodes[node_id]
    return ", ".join(m.parent for m in node.memberships) or "top level"


_KIND_NAMES = {
    "consortium": ("consortium", "consortia"),
    "hybrid": ("hybrid member", "hybrid members"),
    "pass_through": ("pass-through profile", "pass-through profiles"),
    "member": ("member library", "member libraries"),
    "non_client": ("non-client member", "non-client members"),
}


def _summary(consortium: Consortium) -> str:
    kinds: Counter[str] = Counter(node.kind for node in consortium.nodes.values())
    return ", ".join(
        f"{kinds[kind]} {one if kinds[kind] == 1 else many}"
        for kind, (one, many) in _KIND_NAMES.items()
        if kinds[kind]
    )


def _table(consortium: Consortium, out: TextIO) -> None:
    for node_id in consortium.libraries:
        node = consortium.nodes[node_id]
        kind = node.kind.replace("_", "-")
        print(f"\n{node_id} — {node.name} ({kind}, in {_parents(consortium, node_id)})", file=out)
        rows = [(r.key, r.value, r.reason) for r in policy_rows(consortium, node_id)]
        width = max(len(key) for key, _, _ in rows)
        value_width = min(40, max(len(v) for _, v, _ in rows))
        for key, value, reason in rows:
            print(f"  {key:<{width}}  {value:<{value_width}}  {reason}", file=out)


def _percent(share: Fraction) -> str:
    return f"{float(share) * 100:g}%"


def _collection_line(collection: CollectionPlan) -> str:
    owners = ", ".join(f"{lib} {_percent(share)}" for lib, share in collection.owners.items())
    rules = ", ".join(rule.text for rule in collection.rules)
    retention = "" if collection.retention == "none" else f"; retention: {collection.retention}"
    return (
        f"{collection.collection} — {collection.name}: held by {collection.held_by} "
        f"(items {rules}); owned by {owners}{retention}"
    )


def _costs(plans: Mapping[str, CostPlan], out: TextIO) -> None:
    """Each plan's costs, and who owns what of the jointly owned collections."""
    for node_id, plan in plans.items():
        print(
            f"\ncost sharing of {node_id} ({plan.currency}, {len(plan.libraries)} libraries)",
            file=out,
        )
        for cost in plan.costs:
            among = (
                "" if cost.libraries == plan.libraries else f" among {', '.join(cost.libraries)}"
            )
            print(f"  cost {cost.name} ({cost.formula}){among}", file=out)
        for collection in plan.collections:
            print(f"  collection {_collection_line(collection)}", file=out)
        owned = {
            lib: [
                f"{c.collection} ({_percent(c.owners[lib])})"
                for c in plan.collections
                if lib in c.owners
            ]
            for lib in plan.libraries
        }
        for lib, shares in owned.items():
            if shares:
                print(f"  {lib} owns {', '.join(shares)}", file=out)


def _plans_json(plans: Mapping[str, CostPlan]) -> dict[str, object]:
    return {
        node_id: {
            "currency": plan.currency,
            "libraries": list(plan.libraries),
            "costs": [
                {"name": c.name, "formula": c.formula, "libraries": list(c.libraries)}
                for c in plan.costs
            ],
            "collections": [
                {
                    "id": c.collection,
                    "name": c.name,
                    "held_by": c.held_by,
                    "items": [rule.text for rule in c.rules],
                    "owners": {
                        lib: str(Decimal(share.numerator) / share.denominator)
                        for lib, share in c.owners.items()
                    },
                    "retention": c.retention,
                }
                for c in plan.collections
            ],
        }
        for node_id, plan in plans.items()
    }


def _json(consortium: Consortium) -> dict[str, object]:
    nodes: dict[str, object] = {}
    for node_id, node in consortium.nodes.items():
        entry: dict[str, object] = {
            "kind": node.kind,
            "name": node.name,
            "memberships": [m.model_dump() for m in node.memberships],
        }
        if node_id in consortium.libraries:
            entry["policy"] = {
                key: {
                    "value": _jsonable(r.value),
                    "source": r.source,
                    "reason": r.reason,
                    "locked_by": r.locked_by,
                }
                for key, r in consortium.effective[node_id].items()
            }
        nodes[node_id] = entry
    return {"valid": True, "nodes": nodes, "cost_plans": _plans_json(consortium.cost_plans)}


def check_config(
    path: str,
    *,
    as_json: bool = False,
    check_secrets: bool = True,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Validate ``path`` and report; returns the exit status (0 valid, 1 not)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        consortium = load_consortium(path, check_secrets=check_secrets, checks=(tls_issues,))
    except ConfigError as exc:
        if as_json:
            issues = [
                {
                    "file": i.file,
                    "line": i.line,
                    "column": i.column,
                    "path": format_path(i.path),
                    "message": i.message,
                    "hint": i.hint,
                }
                for i in exc.issues
            ]
            json.dump({"valid": False, "errors": issues}, out, indent=2)
            print(file=out)
        else:
            for issue in exc.issues:
                print(issue, file=err)
            count = len(exc.issues)
            print(f"{path}: {count} error{'s' if count != 1 else ''}", file=err)
        return 1
    if as_json:
        json.dump(_json(consortium), out, indent=2)
        print(file=out)
    else:
        print(f"{path}: valid — {_summary(consortium)}", file=out)
        _table(consortium, out)
        _costs(consortium.cost_plans, out)
    return 0


def add_parsers(commands: Any) -> None:
    """Add ``check-config`` to the top-level subparsers."""
    check = commands.add_parser(
        "check-config",
        help="validate a configuration and print every library's effective policy",
        description=(
            "Validate a configuration file (and its includes). On success print every "
            "library's effective policy with where each value came from; on failure print "
            "each error with its file position and a hint, and exit 1."
        ),
    )
    check.add_argument("file", help="the configuration file (TOML)")
    check.add_argument("--json", action="store_true", help="print JSON for tools")
    check.add_argument(
        "--no-secrets",
        action="store_true",
        help="do not require the secrets the file refers to (env variables, files), nor "
        "check its TLS certificates and keys",
    )
    check.set_defaults(
        run=lambda args: check_config(
            args.file, as_json=args.json, check_secrets=not args.no_secrets
        )
    )
