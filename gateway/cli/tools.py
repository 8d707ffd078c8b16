"""Small tools: ``interlend send`` (a SIP2 console), ``selfcheck`` and ``hash-password``."""

from __future__ import annotations

import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
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
    send.add_argument(
        "address", help="HOST:PORT of the SIP2 server (tls://HOST:PORT to connect over TLS)"
    )
    send.add_argument("frames", nargs="+", metavar="FRAME", help="a SIP2 frame, without the CR")
    send.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per answer")
    send.add_argument(
        "--ca", type=Path, help="TLS: CA certificates (PEM) to verify the server against"
    )
    send.add_argument("--cert", type=Path, help="TLS: a client certificate (PEM) to present")
    send.add_argument("--key", type=Path, help="TLS: the client certificate's key (PEM)")
    send.add_argument(
        "--server-name", help="TLS: the name the server's certificate must carry (default: HOST)"
    )
    send.set_defaults(
        run=lambda args: _send(
            args.address,
            args.frames,
            args.timeout,
            _TlsOptions(args.ca, args.cert, args.key, args.server_name),
        )
    )
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


@dataclass(frozen=True)
class _TlsOptions:
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None


def _tls_context(options: _TlsOptions) -> ssl.SSLContext:
    """The console's TLS context.

    Raises:
        ValueError: An option or a file it names cannot be used (the message says which).
    """
    from adapters.tls import TlsFileError, client_context

    if (options.cert is None) != (options.key is None):
        raise ValueError("--cert and --key go together")
    try:
        context = client_context(options.ca)
    except TlsFileError as exc:
        raise ValueError(f"--ca: {exc.message}") from None
    if options.cert is not None and options.key is not None:
        try:
            context.load_cert_chain(options.cert, options.key, password=lambda: "")
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--cert/--key cannot be used: {exc.strerror or exc}") from None
    return context


def _send(address: str, frames: list[str], timeout: float, tls: _TlsOptions | None = None) -> int:
    import socket

    tls = tls or _TlsOptions()
    secure = address.startswith("tls://")
    host, _, port = address.removeprefix("tls://").rpartition(":")
    if not host or not port.isdigit():
        print(f"interlend: {address!r} is not HOST:PORT or tls://HOST:PORT", file=sys.stderr)
        return 2
    if not secure and tls != _TlsOptions():
        print("interlend: TLS options need a tls://HOST:PORT address", file=sys.stderr)
        return 2
    host = host.strip("[]")
    try:
        context = _tls_context(tls) if secure else None
    except ValueError as exc:
        print(f"interlend: {exc}", file=sys.stderr)
        return 2
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        if context is not None:
            # The plain socket is handed over (closed with it, also when the handshake fails).
            sock = context.wrap_socket(sock, server_hostname=tls.server_name or host)
        with sock:
            pending = b""
            for frame in frames:
                sock.sendall(frame.encode("cp850", "replace") + b"\r")
                while b"\r" not in pending:
                    chunk = sock.recv(65536)
                    if not chunk:
                        hint = (
                            " (a server that requires a client certificate does that: "
                            "--cert and --key)"
                            if secure and tls.cert is None
                            else ""
                        )
                        print(f"interlend: the server closed the connection{hint}", file=sys.stderr)
                        return 1
                    pending += chunk
                answer, _, pending = pending.partition(b"\r")
                print(f"> {frame}")
                print(f"< {answer.decode('cp850', 'replace')}", flush=True)
    except ssl.SSLCertVerificationError as exc:
        reason = f"certificate verify failed: {exc.verify_message}"
        print(f"interlend: {address}: {reason}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"interlend: {address}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
