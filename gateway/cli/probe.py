"""``interlend probe-ils MEMBER --config FILE``: check a library's ILS before it goes live.

For a SIP2 member, each configured endpoint (or ``--endpoint``) is probed on one
connection with the configured account (``adapters/ils/sip2_probe.py``): its dialect,
the messages it supports, and a test card and item when given.  For an NCIP member the
configured client asks LookupAgency, then LookupUser and LookupItem for the test card
and item.  The report ends with the configuration lines to use.

The test card's PIN is read from an environment variable (``--pin-env``), never from
the command line, where other users of the machine could see it; it is never printed.
Exit status: 0 when everything asked was answered, 1 otherwise (or for a configuration
that cannot be used), 2 for a malformed argument.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gateway.cli.loading import fail, load_configuration

if TYPE_CHECKING:
    import argparse

    from config.resolved import ResolvedIls
    from gateway.cli.loading import Loaded
    from gateway.cli.probe_report import NcipFindings

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Add ``probe-ils`` to the top-level subparsers."""
    probe = commands.add_parser(
        "probe-ils",
        help="check a member library's ILS before it goes live",
        description=(
            "Connect to MEMBER's ILS with the configured credentials, find how it speaks "
            "(SIP2: terminator, checksums and sequence numbers, encoding, date format, the "
            "messages its 98 lists; NCIP: LookupAgency), try a test card and item, and "
            "print the configuration lines to use."
        ),
    )
    probe.add_argument("member", metavar="MEMBER", help="the member's node id")
    probe.add_argument("--config", required=True, help="the configuration file (TOML)")
    probe.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="HOST:PORT|URL",
        help="probe this endpoint instead of the configured ones (repeatable)",
    )
    probe.add_argument("--patron", metavar="CARD", help="a test patron's barcode")
    probe.add_argument(
        "--pin-env", metavar="VAR", help="environment variable holding the test patron's PIN"
    )
    probe.add_argument("--item", metavar="BARCODE", help="a test item's barcode")
    probe.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="time allowed for each exchange (default: the member's ils.timeout_s)",
    )
    probe.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Probe the member's ILS; the exit status."""
    if args.timeout is not None and args.timeout <= 0:
        return fail("--timeout must be more than 0", 2)
    pin = None
    if args.pin_env is not None:
        pin = os.environ.get(args.pin_env)
        if pin is None:
            return fail(f"--pin-env: the environment variable {args.pin_env} is not set", 2)
        if args.patron is None:
            return fail("--pin-env needs --patron", 2)
    loaded = load_configuration(args.config)
    if isinstance(loaded, int):
        return loaded
    consortium = loaded.consortium
    if args.member not in consortium.libraries:
        known = ", ".join(consortium.libraries) or "none"
        return fail(f"{args.member!r} is not a library of this configuration (libraries: {known})")
    ils = consortium.policy(args.member).ils
    endpoints = tuple(args.endpoint) or ils.endpoints
    if not endpoints:
        return fail(f"{args.member} has no ils.endpoints: give one with --endpoint")
    password = _password(loaded, args.member, ils)
    if isinstance(password, int):
        return password
    timeout = args.timeout if args.timeout is not None else ils.timeout_s
    if ils.adapter == "ncip":
        return _ncip(args, ils, endpoints, password, pin, timeout)
    return _sip2(args, ils, endpoints, password, pin, timeout)


def _password(loaded: Loaded, member: str, ils: ResolvedIls) -> str | int | None:
    from gateway.runtime.members import ils_secret

    password = ils_secret(loaded.consortium, loaded.secrets, member)
    if ils.password is not None and password is None:
        return fail(f"{member}'s ils.password ({ils.password}) cannot be read: set it first")
    return password


def _sip2(
    args: argparse.Namespace,
    ils: ResolvedIls,
    endpoints: tuple[str, ...],
    password: str | None,
    pin: str | None,
    timeout: float,
) -> int:
    import trio

    from adapters.ils.sip2_link import Endpoint
    from adapters.ils.sip2_probe import ProbeTarget, probe_sip2
    from gateway.cli.probe_report import sip2_report

    targets = []
    for text in endpoints:
        try:
            endpoint = Endpoint.parse(text)
        except ValueError as exc:
            return fail(f"endpoint {text!r}: {exc}", 2)
        targets.append(
            ProbeTarget(
                endpoint=endpoint,
                login=ils.login,
                password=password,
                location=ils.location,
                institution_id=ils.institution_id,
                test_patron=args.patron,
                test_pin=pin,
                test_item=args.item,
                timeout_s=timeout,
            )
        )
    status = 0
    for target in targets:
        found = trio.run(probe_sip2, target)
        print(sip2_report(args.member, found), flush=True)
        if not found.ok:
            status = 1
    return status


def _ncip(
    args: argparse.Namespace,
    ils: ResolvedIls,
    endpoints: tuple[str, ...],
    password: str | None,
    pin: str | None,
    timeout: float,
) -> int:
    import trio

    from gateway.cli.probe_report import ncip_report

    status = 0
    for endpoint in endpoints:
        settings = ils.model_copy(update={"endpoints": (endpoint,)})
        found = trio.run(_probe_ncip, args.member, settings, password, args, pin, timeout)
        print(ncip_report(args.member, found), flush=True)
        if not found.ok:
            status = 1
    return status


async def _probe_ncip(
    member: str,
    settings: ResolvedIls,
    password: str | None,
    args: argparse.Namespace,
    pin: str | None,
    timeout: float,
) -> NcipFindings:
    from adapters.errors import IlsError
    from adapters.ils.ncip import NcipMemberIls
    from gateway.cli.probe_report import NcipFindings

    client = NcipMemberIls(member, settings, password)
    found = NcipFindings(settings.endpoints[0], client.to_agency)
    try:
        try:
            found.agency, found.agency_name = await client.lookup_agency(timeout=timeout)
        except IlsError as exc:
            found.problems.append(f"LookupAgency: {exc.detail}")
            return found
        if args.patron is not None:
            try:
                found.patron = await client.patron_status(args.patron, pin, timeout=timeout)
            except IlsError as exc:
                found.problems.append(f"LookupUser: {exc.detail}")
        if args.item is not None:
            try:
                found.item = await client.item_information(args.item, timeout=timeout)
            except IlsError as exc:
                found.problems.append(f"LookupItem: {exc.detail}")
        return found
    finally:
        await client.aclose()
