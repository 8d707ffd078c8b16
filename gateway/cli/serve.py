"""``interlend serve``: run the gateway daemon from a configuration file."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from gateway.cli.errors import port_in_use

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Add ``serve`` to the top-level subparsers."""
    serve = commands.add_parser(
        "serve",
        help="run the gateway daemon",
        description=(
            "Run the gateway: SIP2 listeners, the NCIP endpoint, member ILS clients, the "
            "ledger worker and the admin HTTP server, as the configuration says. SIGTERM or "
            "Ctrl-C stops it gracefully; SIGHUP reloads the configuration."
        ),
    )
    serve.add_argument("--config", required=True, help="the configuration file (TOML)")
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    path: str = args.config
    import trio

    from adapters.state.base import StateUnavailable
    from config.errors import ConfigError
    from gateway.app.daemon import Gateway

    try:
        gateway = Gateway.from_file(path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{path}: the configuration has errors; nothing started", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"interlend: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        trio.run(gateway.run)
    except OSError as exc:
        print(port_in_use(exc), file=sys.stderr)
        return 1
    except StateUnavailable as exc:
        print(f"interlend: the state store: {exc.detail}; nothing started", file=sys.stderr)
        return 1
    return 0
