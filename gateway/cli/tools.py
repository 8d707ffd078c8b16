"""Small tools: ``interlend send`` (a SIP2 console), ``selfcheck`` and ``hash-password``."""

from __future__ import annotations

import sys
from typing import Any

import structlog

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Add ``send``, ``selfcheck`` and ``hash-password`` to the top-level subparsers."""
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
    send.set_defaults(run=lambda args: _send(args.address, args.frames, args.timeout))
    selfcheck = commands.add_parser(
        "selfcheck",
        help="run the SIP2 codec's self-check",
        description=(
            "Check the SIP2 codec: checksum vectors, every message in every charset, and a "
            "kiosk/ACS conversation with corrupted and repeated frames."
        ),
    )
    selfcheck.set_defaults(run=lambda args: _selfcheck())
    hash_password = commands.add_parser(
        "hash-password",
        help="hash a terminal password for the configuration (reads it from stdin)",
        description=(
            "Print the scrypt hash of a SIP2 terminal password, for a terminal's "
            "password_hash. The password is read from standard input, or asked for twice "
            "on a terminal."
        ),
    )
    hash_password.set_defaults(run=lambda args: _hash_password())


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
