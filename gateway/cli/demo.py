"""``interlend demo``: simulated member ILSs and a gateway on loopback, in one command."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from gateway.cli import demo_history
from gateway.cli.errors import port_in_use, sole_error

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Add ``demo`` to the top-level subparsers."""
    demo = commands.add_parser(
        "demo",
        help="run three simulated member ILSs and the gateway (or several) in one command",
        description=(
            "Run the embedded demo: three simulated member ILSs (alpha, beta, gamma) and "
            "the gateway with the in-memory registry and the embedded ledger, or in "
            "production's shape: the registry in Redis (--state), the ledger on an EVM node "
            "(--chain), several gateways (--gateways). Port 0 picks a free port."
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
    demo.add_argument(
        "--host",
        default="127.0.0.1",
        help="address every listener takes (127.0.0.1; 0.0.0.0 in a container: the admin "
        "ports then need the bearer token the manifest gives)",
    )
    demo.add_argument(
        "--state",
        metavar="URL",
        help="keep the loan registry in this Redis (redis://HOST:PORT/DB) instead of memory",
    )
    demo.add_argument(
        "--chain",
        metavar="URL",
        help="anchor loans on this EVM development node (an anvil's http://HOST:PORT): the "
        "demo deploys the registry there and admits its libraries",
    )
    demo.add_argument(
        "--gateways",
        type=int,
        default=1,
        metavar="N",
        help="run N gateways sharing the --state Redis, each on its own ports (the chosen "
        "ones plus 0, 1, …)",
    )
    demo_history.add_arguments(demo)
    demo.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    import socket
    from functools import partial
    from pathlib import Path

    import trio

    from gateway.demo.network import DemoError, DemoShape, how_to_try, run_demo

    shape = DemoShape(state_url=args.state, chain_url=args.chain, gateways=args.gateways)
    try:
        shape.check()
    except DemoError as exc:
        print(f"interlend demo: {exc}", file=sys.stderr)
        return 2

    refusal = demo_history.refusal(args)
    if refusal is not None:
        print(f"interlend: {refusal}", file=sys.stderr)
        return 2

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
                    host=args.host,
                    shape=shape,
                )
            )
            print(how_to_try(demo), flush=True)
            await demo_history.play(demo, args)

    try:
        trio.run(main)
    except BaseException as raised:  # a nursery wraps the one failure in a group
        failure = sole_error(raised)
        if isinstance(failure, DemoError):
            print(f"interlend demo: {failure}; nothing started", file=sys.stderr)
            return 1
        if isinstance(failure, socket.gaierror):
            print(f"interlend demo: --host {args.host!r}: {failure.strerror}", file=sys.stderr)
            return 1
        if isinstance(failure, OSError):
            print(port_in_use(failure), file=sys.stderr)
            return 1
        raise
    return 0
