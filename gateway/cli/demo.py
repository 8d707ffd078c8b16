"""``interlend demo``: simulated member ILSs and a gateway on loopback, in one command."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from gateway.cli import demo_history
from gateway.cli.errors import port_in_use

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Add ``demo`` to the top-level subparsers."""
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
    demo_history.add_arguments(demo)
    demo.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    from functools import partial
    from pathlib import Path

    import trio

    from gateway.demo.network import how_to_try, run_demo

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
                )
            )
            print(how_to_try(demo), flush=True)
            await demo_history.play(demo, args)

    try:
        trio.run(main)
    except OSError as exc:
        print(port_in_use(exc), file=sys.stderr)
        return 1
    return 0
