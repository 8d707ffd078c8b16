"""``interlend demo``: three simulated member ILSs and the gateway, on loopback.

The demo consortium is ``config/demo.toml`` (shipped in the package).  The demo starts
a simulated ILS for each member (``alpha``, ``beta``, ``gamma``) on free ports, points
the configuration at them, gives them a fresh random SIP2 password (through the
environment variable the file names, as a real deployment would), and starts the
gateway with the in-memory registry and the embedded ledger: web3's in-process EVM,
with the registry contract deployed at start and the gateway's member admitted, so
every reciprocal loan is anchored (batches of up to ``DEMO_BATCH_INTERVAL_S``) and
provable at ``/api/loans/{id}/proof``.

Each simulated ILS serves SIP2 and NCIP; the gateway reaches a member over SIP2 unless
``ncip_members`` names it.  The gateway's own NCIP endpoint takes the demo's peers
(``rs-alpha``, ``rs-beta``, ``rs-gamma``) with a fresh random API key, given the same way.

Once every listener is up it writes the manifest (DESIGN.md "Contracts") when asked:
where to connect (the gateway's SIP2, NCIP and admin listeners, and each simulated
ILS's own SIP2 and NCIP endpoints), the NCIP peers and their key, the terminals,
patrons and items to try.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import structlog
import trio

from adapters.ledger.memory import MemoryLedger
from adapters.state.memory import MemoryStateStore
from config.consortium import build_consortium
from config.errors import ConfigError
from config.loader import parse_config, resolve_secrets
from config.models import AdminListener, Config, NcipListener, Sip2Listener
from gateway.app.daemon import Bound, Gateway
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import serve_simulator_ncip
from gateway.demo.simulator.sip2_server import serve_simulator
from gateway.runtime.members import build_members
from gateway.runtime.rules import build_rules, start_secrets
from gateway.runtime.services import Services

if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from pathlib import Path

    from config.consortium import Consortium

__all__ = ["DEMO_MEMBERS", "DEMO_TERMINAL_PASSWORD", "Demo", "run_demo"]

log = structlog.get_logger("interlend.demo")

DEMO_MEMBERS = ("alpha", "beta", "gamma")
DEMO_TERMINAL_PASSWORD = "demo"
DEMO_BATCH_INTERVAL_S = 2.0
"""How old the demo lets a batch's first loan event get before anchoring it."""
PASSWORD_ENV = "INTERLEND_DEMO_ILS_PASSWORD"
NCIP_KEY_ENV = "INTERLEND_DEMO_NCIP_KEY"


@dataclass
class Demo:
    """A running demo: the gateway, the simulated ILSs and the manifest."""

    gateway: Gateway
    simulators: dict[str, SimulatedIls]
    simulator_scopes: dict[str, trio.CancelScope]
    manifest: dict[str, Any]
    bound: Bound
    ncip_scopes: dict[str, trio.CancelScope] = field(default_factory=dict)

    def stop_ils(self, member: str) -> None:
        """Stop a member's simulated ILS (its ports close: the member is down)."""
        self.simulator_scopes[member].cancel()
        if member in self.ncip_scopes:
            self.ncip_scopes[member].cancel()


def demo_config(
    config: Config,
    members: dict[str, tuple[str, int]],
    host: str,
    sip2_port: int,
    admin_port: int,
    ncip_port: int = 0,
) -> Config:
    """The demo file with the simulators' endpoints and the chosen listener ports."""
    nodes = dict(config.nodes)
    for member, (ils_host, ils_port) in members.items():
        node = nodes[member]
        ils = node.ils.model_copy(update={"endpoints": (f"{ils_host}:{ils_port}",)})
        nodes[member] = node.model_copy(update={"ils": ils})
    gateway = config.gateway.model_copy(
        update={
            "sip2": (Sip2Listener(host=host, port=sip2_port),),
            "admin": AdminListener(host=host, port=admin_port),
            "ncip": NcipListener(host=host, port=ncip_port),
            # A person trying the demo should not wait five minutes for a proof.
            "ledger": config.gateway.ledger.model_copy(
                update={"batch_interval_s": DEMO_BATCH_INTERVAL_S}
            ),
        }
    )
    return config.model_copy(update={"nodes": nodes, "gateway": gateway})


def over_ncip(config: Config, endpoints: dict[str, tuple[str, int]]) -> Config:
    """The demo with some members reached over NCIP at the given simulator endpoints."""
    nodes = dict(config.nodes)
    for member, (ncip_host, ncip_port) in endpoints.items():
        node = nodes[member]
        ncip = node.ils.ncip.model_copy(update={"to_agency": member, "accept_item": True})
        ils = node.ils.model_copy(
            update={
                "adapter": "ncip",
                "endpoints": (f"http://{ncip_host}:{ncip_port}/ncip",),
                "ncip": ncip,
            }
        )
        nodes[member] = node.model_copy(update={"ils": ils})
    return config.model_copy(update={"nodes": nodes})


def _manifest(
    consortium: Consortium,
    bound: Bound,
    members: dict[str, tuple[str, int]],
    simulators: dict[str, SimulatedIls],
    password: str,
    ncip_key: str,
) -> dict[str, Any]:
    host, port = bound.sip2[0]
    patrons = [
        {"id": p.id, "pin": p.pin, "member": member, "blocked": p.blocked}
        for member, sim in simulators.items()
        for p in sim.library.patrons.values()
        if p.type != "proxy"
    ]
    items = [
        {"id": item.id, "member": member}
        for member, sim in simulators.items()
        for item in sim.library.items.values()
    ]
    return {
        "sip2": {"host": host, "port": port},
        "ncip": {
            "url": bound.ncip,
            "peers": [
                {"agency_id": peer.agency_id, "api_key": ncip_key, "member": node_id}
                for node_id, node in consortium.nodes.items()
                for peer in node.ncip_peers
            ],
        }
        if bound.ncip
        else None,
        "admin": {"url": bound.admin} if bound.admin else None,
        "members": {
            member: {
                "sip2": {
                    "host": ils_host,
                    "port": ils_port,
                    "login": simulators[member].library.login,
                    "password": password,
                },
                "ncip": None,
            }
            for member, (ils_host, ils_port) in members.items()
        },
        "terminals": [
            {"login": login, "password": DEMO_TERMINAL_PASSWORD, "member": account.member}
            for login, account in consortium.terminals.items()
        ],
        "patrons": patrons,
        "items": items,
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically (readers never see half a file)."""
    partial_path = path.with_name(path.name + ".part")
    partial_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial_path.replace(path)


async def _serve_simulator(
    sim: SimulatedIls,
    host: str,
    scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    with scope:
        await serve_simulator(sim, host=host, task_status=task_status)


async def _serve_simulator_ncip(
    sim: SimulatedIls,
    host: str,
    scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    with scope:
        await serve_simulator_ncip(sim, host=host, task_status=task_status)


async def run_demo(
    *,
    host: str = "127.0.0.1",
    sip2_port: int = 0,
    admin_port: int = 0,
    ncip_port: int = 0,
    ncip_members: Collection[str] = (),
    manifest_path: Path | None = None,
    handle_signals: bool = True,
    adjust: Callable[[Config], Config] | None = None,
    task_status: trio.TaskStatus[Demo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the demo until the gateway stops (Ctrl-C, SIGTERM or ``gateway.stop()``).

    ``adjust`` may change the demo configuration before it is used (tests shorten
    time-outs or point a member at a dead port with it).  The gateway reaches the
    members in ``ncip_members`` over NCIP (their simulators' NCIP endpoints, with a
    temporary item at home for each reciprocal loan) instead of SIP2.
    """
    password = secrets.token_urlsafe(18)
    os.environ[PASSWORD_ENV] = password
    ncip_key = secrets.token_urlsafe(18)
    os.environ[NCIP_KEY_ENV] = ncip_key
    simulators = {m: SimulatedIls(packaged_library(m), password) for m in DEMO_MEMBERS}
    scopes = {m: trio.CancelScope() for m in DEMO_MEMBERS}
    async with trio.open_nursery() as nursery:
        members: dict[str, tuple[str, int]] = {}
        ncip_scopes = {m: trio.CancelScope() for m in DEMO_MEMBERS}
        ncip_members_at: dict[str, tuple[str, int]] = {}
        for member, sim in simulators.items():
            members[member] = await nursery.start(_serve_simulator, sim, host, scopes[member])
            ncip_members_at[member] = await nursery.start(
                _serve_simulator_ncip, sim, host, ncip_scopes[member]
            )
        with resources.as_file(resources.files("config").joinpath("demo.toml")) as path:
            config, _, _ = parse_config(path)
        config = demo_config(config, members, host, sip2_port, admin_port, ncip_port)
        config = over_ncip(config, {m: ncip_members_at[m] for m in ncip_members})
        consortium = build_consortium(adjust(config) if adjust is not None else config)
        found, issues = resolve_secrets(consortium)
        if issues:  # pragma: no cover - the variable was set above
            raise ConfigError.of(issues)
        rules = build_rules(consortium, found)
        services = Services(build_members(consortium, found), MemoryStateStore(), MemoryLedger())
        gateway = Gateway(
            rules, services, start_secrets(rules, found), handle_signals=handle_signals
        )

        async def serve_gateway(*, task_status: trio.TaskStatus[Bound]) -> None:
            await gateway.run(task_status=task_status)
            nursery.cancel_scope.cancel()  # the simulators stop with the gateway

        bound = await nursery.start(serve_gateway)
        manifest = _manifest(consortium, bound, members, simulators, password, ncip_key)
        for member, (ncip_host, ncip_port) in ncip_members_at.items():
            manifest["members"][member]["ncip"] = {"url": f"http://{ncip_host}:{ncip_port}/ncip"}
        if manifest_path is not None:
            write_manifest(manifest_path, manifest)
        log.info(
            "demo ready",
            sip2=f"{bound.sip2[0][0]}:{bound.sip2[0][1]}",
            admin=bound.admin,
            ncip=bound.ncip,
        )
        task_status.started(Demo(gateway, simulators, scopes, manifest, bound, ncip_scopes))


def how_to_try(demo: Demo) -> str:
    """What ``interlend demo`` prints for a person: where to connect and what to send."""
    host, port = demo.bound.sip2[0]
    return "\n".join(
        [
            "interlend demo is running (Ctrl-C stops it).",
            f"  SIP2 gateway : {host}:{port}   terminals alpha-kiosk, beta-kiosk, gamma-desk;"
            f" password {DEMO_TERMINAL_PASSWORD}",
            f"  admin        : {demo.bound.admin or 'off'}",
            f"  NCIP         : POST {demo.bound.ncip or 'off'}  FromAgencyId rs-alpha, rs-beta"
            f" or rs-gamma; X-API-Key {os.environ.get(NCIP_KEY_ENV, '')}",
            "  patrons      : 21001000000001… (alpha), 21002… (beta), 21003… (gamma); PIN 1234;"
            " 21001000000099 is blocked",
            "  items        : 31001000000001… (alpha), 31002… (beta), 31003… (gamma)",
            "Try it: an alpha patron's card checked at beta's kiosk, then a checkout of a"
            " beta item:",
            f"  interlend send {host}:{port} '9300CNbeta-kiosk|COdemo|CPbeta-main|' \\",
            "    '2300120261123    120000AObeta|AA21001000000001|AC|AD1234|' \\",
            "    '11YN20261123    12000020261123    120000AObeta|AA21001000000001"
            "|AB31002000000001|AC|AD1234|'",
            "Then the loan's proof on the embedded chain (a few seconds later):",
            f"  curl {demo.bound.admin or 'http://ADMIN'}/api/loans  # the loan_id",
            f"  curl {demo.bound.admin or 'http://ADMIN'}/api/loans/LOAN_ID/proof",
        ]
    )
