"""``interlend serve``: run the gateway daemon from a configuration file."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from gateway.cli.errors import port_in_use, sole_error

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
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway processes sharing the listeners, under a supervisor that restarts "
        "them (1); more than one needs the Redis state store",
    )
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    path: str = args.config
    import trio

    from adapters.state.base import StateUnavailable
    from config.errors import ConfigError
    from gateway.app.daemon import Gateway

    if args.workers != 1:
        return _serve_workers(args)
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


def _serve_workers(args: argparse.Namespace) -> int:
    """``serve --workers N``: the supervisor and its workers (``gateway/workers``)."""
    import socket
    from functools import partial
    from pathlib import Path

    import trio

    from config.errors import ConfigError
    from config.loader import COMMAND_ONLY_SECRETS, load_consortium
    from gateway.workers.supervisor import Supervisor, check_shareable

    path: str = args.config
    try:
        settings = load_consortium(
            path, check_secrets=True, skip_secrets=COMMAND_ONLY_SECRETS
        ).config.gateway
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{path}: the configuration has errors; nothing started", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"interlend: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    refusal = check_shareable(settings, args.workers)
    if refusal is not None:
        print(f"interlend serve: {refusal}; nothing started", file=sys.stderr)
        return 2
    json = None if args.log_format is None else args.log_format == "json"
    supervisor = Supervisor(
        Path(path).resolve(), settings, args.workers, log_level=args.log_level, log_json=json
    )
    try:
        trio.run(partial(supervisor.run))
    except BaseException as raised:  # a nursery wraps the one failure in a group
        failure = sole_error(raised)
        if isinstance(failure, socket.gaierror):
            print(f"interlend serve: a listener's host: {failure.strerror}", file=sys.stderr)
            return 1
        if isinstance(failure, OSError):
            print(port_in_use(failure), file=sys.stderr)
            return 1
        if isinstance(failure, ConfigError):
            for issue in failure.issues:
                print(issue, file=sys.stderr)
            return 1
        raise
    return 0
