"""The ``interlend`` command line.

Logging is configured before anything else runs, so the first line written is
already structured and redacted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from gateway import __version__
from gateway.cli import check_config, demo, ledger, report, serve, tools
from gateway.telemetry.logs import configure_logging

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


# Each command lives in its own module, which adds its parser and says what runs it
# (``set_defaults(run=...)``); a new command is a new module listed here.
_COMMANDS = (serve, demo, tools, check_config, ledger, report)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interlend",
        description="Consortium gateway for libraries: reciprocal borrowing over SIP2 and NCIP.",
    )
    parser.add_argument("--version", action="version", version=f"interlend {__version__}")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="lowest level to log (default: info)",
    )
    parser.add_argument(
        "--log-format",
        choices=["json", "console"],
        help="log format (default: JSON unless standard error is a terminal)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`interlend check-config … | head`): stop quietly, and
        # point stdout at /dev/null so that the interpreter's final flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    json = None if args.log_format is None else args.log_format == "json"
    configure_logging(level=args.log_level, json=json)
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
