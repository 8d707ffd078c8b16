"""``interlend report …``: a period's reports, one sub-command each.

Each report lives in its own module (``report_settlement``…), which adds its
sub-command with ``add_parser``; this module only makes the ``report`` parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.cli import report_settlement

if TYPE_CHECKING:
    from gateway.cli.report_settlement import Settle

__all__ = ["add_parsers", "settle_for_reports"]

settle_for_reports: Settle | None = None
"""The settlement engine the report commands (and ``demo --report``) use: set here,
where the engine is wired in; ``None`` until it is."""


def add_parsers(commands: Any) -> None:
    """Add ``report`` and its sub-commands to the top-level subparsers."""
    report = commands.add_parser(
        "report",
        help="a period's reports (settlement)",
        description="Reports on a period of the consortium's loan registry.",
    )
    reports = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    report_settlement.add_parser(reports, settle_for_reports)
