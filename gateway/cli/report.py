"""``interlend report …``: the consortium's reports, one sub-command each.

The sub-commands live in their own modules, each adding its parsers to the
``report`` command's subparsers: ``usage`` and ``collection`` in
``report_analytics.py``.
"""

from __future__ import annotations

from typing import Any

from gateway.cli import report_analytics

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Add ``report`` and its sub-commands to the top-level subparsers."""
    report = commands.add_parser(
        "report",
        help="reports: usage and collection analytics",
        description="The consortium's reports, from the registry and the holdings exports.",
    )
    subcommands = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    report_analytics.add_parsers(subcommands)
