"""The ``interlend`` command line.

Logging is configured before anything else runs, so the first line written is
already structured and redacted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

import structlog

from gateway import __version__
from gateway.telemetry.logs import configure_logging

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
    demo = commands.add_parser(
        "demo",
        help="run three simulated member ILSs and the gateway on loopback",
        description=(
            "Run the embedded demo: three simulated member ILSs (alpha, beta, gamma) and "
            "the gateway with the in-memory registry and the embedded ledger. Port 0 picks "
            "a free port."
        ),
    )
    demo.add_argument("--sip2-port", type=int, default=6001, help="gateway SIP2 port (6001)")
    demo.add_argument("--admin-port", type=int, default=9090, help="admin HTTP port (9090)")
    demo.add_argument(
        "--ncip-port", type=int, default=8080, help="NCIP port (POST /ncip; 0: a free one)"
    )
    demo.add_argument(
        "--ncip-member",
        action="append",
        default=[],
        choices=["alpha", "beta", "gamma"],
        help="reach this member's simulated ILS over NCIP instead of SIP2 (repeatable)",
    )
    demo.add_argument("--manifest", help="write a JSON manifest here once everything is up")
    send = commands.add_parser(
        "send",
        help="send raw SIP2 frames to a server and print the answers",
        description=(
            "A SIP2 console for trying a gateway or an ILS: each FRAME is sent as it is "
            "(a CR is added) and the answer printed. Example: interlend send 127.0.0.1:6001 "
            "'9300CNbeta-kiosk|COdemo|' '9900302.00'"
        ),
    )
    send.add_argument("address", help="HOST:PORT of the SIP2 server")
    send.add_argument("frames", nargs="+", metavar="FRAME", help="a SIP2 frame, without the CR")
    send.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per answer")
    commands.add_parser(
        "selfcheck",
        help="run the SIP2 codec's self-check",
        description=(
            "Check the SIP2 codec: checksum vectors, every message in every charset, and a "
            "kiosk/ACS conversation with corrupted and repeated frames."
        ),
    )
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
        help="do not require the secrets the file refers to (env variables, files)",
    )
    commands.add_parser(
        "hash-password",
        help="hash a terminal password for the configuration (reads it from stdin)",
        description=(
            "Print the scrypt hash of a SIP2 terminal password, for a terminal's "
            "password_hash. The password is read from standard input, or asked for twice "
            "on a terminal."
        ),
    )
    from gateway.cli.ledger import add_parsers

    add_parsers(commands)
    return parser


def _hash_password() -> int:
    import getpass

    from config.secrets import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Terminal password: ")
        if getpass.getpass("Again: ") != password:
            print("interlend: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("interlend: an empty password cannot be hashed", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def _selfcheck() -> int:
    from gateway.demo.selfcheck import run_selfcheck

    result = run_selfcheck()
    log = structlog.get_logger("interlend")
    if result.failed:
        log.error("self-check failed", passed=len(result.passed), failed=result.failed)
        return 1
    log.info("self-check passed", checks=len(result.passed))
    return 0


def _send(address: str, frames: list[str], timeout: float) -> int:
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        print(f"interlend: {address!r} is not HOST:PORT", file=sys.stderr)
        return 2
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
            pending = b""
            for frame in frames:
                sock.sendall(frame.encode("cp850", "replace") + b"\r")
                while b"\r" not in pending:
                    chunk = sock.recv(65536)
                    if not chunk:
                        print("interlend: the server closed the connection", file=sys.stderr)
                        return 1
                    pending += chunk
                answer, _, pending = pending.partition(b"\r")
                print(f"> {frame}")
                print(f"< {answer.decode('cp850', 'replace')}", flush=True)
    except OSError as exc:
        print(f"interlend: {address}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _port_in_use(exc: OSError) -> str:
    return (
        f"interlend: a port is already in use ({exc.strerror or exc}); "
        "choose another, or 0 for a free one"
    )


def _serve(path: str) -> int:
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
        print(_port_in_use(exc), file=sys.stderr)
        return 1
    except StateUnavailable as exc:
        print(f"interlend: the state store: {exc.detail}; nothing started", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from functools import partial
    from pathlib import Path

    import trio

    from gateway.demo.network import how_to_try, run_demo

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            demo = await nursery.start(
                partial(
                    run_demo,
                    sip2_port=args.sip2_port,
                    admin_port=args.admin_port,
                    ncip_port=args.ncip_port,
                    ncip_members=tuple(args.ncip_member),
                    manifest_path=Path(args.manifest) if args.manifest else None,
                )
            )
            print(how_to_try(demo), flush=True)

    try:
        trio.run(main)
    except OSError as exc:
        print(_port_in_use(exc), file=sys.stderr)
        return 1
    return 0


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
    if args.command == "serve":
        return _serve(args.config)
    if args.command == "demo":
        return _demo(args)
    if args.command == "send":
        return _send(args.address, args.frames, args.timeout)
    if args.command == "selfcheck":
        return _selfcheck()
    if args.command == "check-config":
        from gateway.cli.check_config import check_config

        return check_config(args.file, as_json=args.json, check_secrets=not args.no_secrets)
    if args.command == "hash-password":
        return _hash_password()
    if args.command == "ledger":
        from gateway.cli.ledger import run

        return run(args)
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
