"""``interlend simulate``: the simulated member ILSs alone, for a gateway run with
``interlend serve`` and a real configuration (``config/examples/simulated.toml``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from gateway.cli.errors import port_in_use

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers"]

DEFAULT_SIP2_BASE = 7101
DEFAULT_NCIP_BASE = 7201


def add_parsers(commands: Any) -> None:
    """Add ``simulate`` to the top-level subparsers."""
    simulate = commands.add_parser(
        "simulate",
        help="run the simulated member ILSs (SIP2 and NCIP) on their own",
        description=(
            "Run a simulated ILS for each member named, serving SIP2 and NCIP, until "
            "Ctrl-C or SIGTERM. config/examples/simulated.toml points a gateway at the "
            f"default ports (SIP2 {DEFAULT_SIP2_BASE}…, NCIP {DEFAULT_NCIP_BASE}…). The "
            "gateway's password at every ILS is INTERLEND_SIMULATOR_PASSWORD when set, "
            "else a random one (in the manifest)."
        ),
    )
    simulate.add_argument(
        "--members",
        default="alpha,beta,gamma",
        help="comma-separated members to simulate, of alpha, beta, gamma (all three)",
    )
    simulate.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (127.0.0.1; 0.0.0.0: all)"
    )
    simulate.add_argument(
        "--sip2-port-base",
        type=int,
        default=DEFAULT_SIP2_BASE,
        help=f"the first member's SIP2 port, the next ones follow ({DEFAULT_SIP2_BASE}; 0: free)",
    )
    simulate.add_argument(
        "--ncip-port-base",
        type=int,
        default=DEFAULT_NCIP_BASE,
        help=f"the first member's NCIP port, the next ones follow ({DEFAULT_NCIP_BASE}; 0: free)",
    )
    simulate.add_argument("--manifest", help="write a JSON manifest here once everything is up")
    simulate.set_defaults(run=_simulate)


def parse_members(text: str) -> tuple[str, ...]:
    """The ``--members`` list: names in order, blanks and repeats dropped.

    Raises:
        ValueError: No member named, or one without simulated data.
    """
    from gateway.demo.simulated import SIMULATED_MEMBERS, unknown_members

    members = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    if not members:
        raise ValueError("--members names no member")
    if unknown := unknown_members(members):
        raise ValueError(
            f"--members: no simulated data for {', '.join(unknown)} "
            f"(choose from {', '.join(SIMULATED_MEMBERS)})"
        )
    return members


def _simulate(args: argparse.Namespace) -> int:
    import signal
    import socket
    from functools import partial
    from pathlib import Path

    import trio

    from gateway.demo.simulated import run_simulation

    try:
        members = parse_members(args.members)
    except ValueError as exc:
        print(f"interlend simulate: {exc}", file=sys.stderr)
        return 2
    for option in ("sip2_port_base", "ncip_port_base"):
        base = getattr(args, option)
        if not (base == 0 or (base > 0 and base + len(members) - 1 <= 65535)):
            flag = "--" + option.replace("_", "-")
            print(f"interlend simulate: {flag} {base} is not a usable port", file=sys.stderr)
            return 2

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                simulation = await nursery.start(
                    partial(
                        run_simulation,
                        members,
                        host=args.host,
                        sip2_port_base=args.sip2_port_base,
                        ncip_port_base=args.ncip_port_base,
                        manifest_path=Path(args.manifest) if args.manifest else None,
                    )
                )
                for member, entry in simulation.manifest["members"].items():
                    sip2, ncip = entry["sip2"], entry["ncip"]["url"]
                    print(f"{member}: SIP2 {sip2['host']}:{sip2['port']}  NCIP {ncip}", flush=True)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    try:
        trio.run(main)
    except socket.gaierror as exc:
        print(f"interlend simulate: --host {args.host!r}: {exc.strerror}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(port_in_use(exc), file=sys.stderr)
        return 1
    return 0
