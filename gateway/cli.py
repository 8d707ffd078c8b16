"""The ``interlend`` command line.

Logging is configured before anything else runs, so the first line written is
already structured and redacted.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import structlog

from gateway import __version__
from gateway.logs import configure_logging

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


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
    commands.add_parser(
        "demo",
        help="run the embedded demo (for now: the SIP2 codec's self-check)",
        description=(
            "Run the embedded demo. The gateway daemon is not built yet, so this runs the "
            "SIP2 codec's self-check: checksum vectors, every message in every charset, "
            "and a kiosk/ACS conversation with corrupted and repeated frames."
        ),
    )
    return parser


def _demo() -> int:
    from gateway.selfcheck import run_selfcheck

    result = run_selfcheck()
    log = structlog.get_logger("interlend")
    if result.failed:
        log.error("self-check failed", passed=len(result.passed), failed=result.failed)
        return 1
    log.info("self-check passed", checks=len(result.passed))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    json = None if args.log_format is None else args.log_format == "json"
    configure_logging(level=args.log_level, json=json)
    if args.command == "demo":
        return _demo()
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
