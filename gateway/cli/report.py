"""``interlend report …``: the consortium's reports, one sub-command each.

The sub-commands live in their own modules, each adding its parsers to the
``report`` command's subparsers: ``settlement`` in ``report_settlement.py``, ``usage``
and ``collection`` in ``report_analytics.py``.  The settlement engine is wired in here,
once, for ``report settlement`` and ``demo --history … --report``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.cli import report_analytics, report_settlement

if TYPE_CHECKING:
    from config.consortium import Consortium
    from gateway.cli.report_settlement import Settle
    from gateway.history.reader import PeriodLoans
    from gateway.settlement.result import Settlement

__all__ = ["add_parsers", "settle_for_reports"]


def _settle(loans: PeriodLoans, consortium: Consortium) -> Settlement:
    """The period's settlement under the configuration's one cost plan.

    Raises:
        ValueError: No consortium sets costs, or several do (the command prints the
            message as one line); ``SettlementError`` when the plan cannot be applied.
    """
    from gateway.settlement.engine import settle

    plans = consortium.cost_plans
    if len(plans) != 1:
        raise ValueError(
            "the configuration sets no costs"
            if not plans
            else f"several consortia set costs ({', '.join(plans)}): report one at a time"
        )
    [plan] = plans.values()
    return settle(loans, consortium, plan)


settle_for_reports: Settle | None = _settle
"""The settlement engine the report commands (and ``demo --report``) use."""


def add_parsers(commands: Any) -> None:
    """Add ``report`` and its sub-commands to the top-level subparsers."""
    report = commands.add_parser(
        "report",
        help="reports: settlement, usage and collection analytics",
        description="The consortium's reports, from the registry and the holdings exports.",
    )
    subcommands = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    report_settlement.add_parser(subcommands, settle_for_reports)
    report_analytics.add_parsers(subcommands)
