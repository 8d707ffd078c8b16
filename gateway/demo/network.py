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

``DemoShape`` runs it the way a consortium does in production: the registry in a Redis
(``--state``, checked at start), the ledger on an EVM development node (``--chain``: the
registry is deployed there and the demo libraries admitted, ``chain.py``), and several
gateways sharing that Redis (``--gateways N``), each on its own ports (the chosen ones
plus its index) and, with a chain, anchoring with its own library's key.  Off loopback
(``host``) the admin ports take a fresh bearer token, given in the manifest.

Once every listener is up it writes the manifest (DESIGN.md "Contracts") when asked:
where to connect (the gateway's SIP2, NCIP and admin listeners, and each simulated
ILS's own SIP2 and NCIP endpoints), the NCIP peers and their key, the terminals,
patrons and items to try.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
import trio

from adapters.ledger.memory import MemoryLedger
from adapters.state.connect import redis_client
from adapters.state.memory import MemoryStateStore
from config.consortium import build_consortium
from config.errors import ConfigError
from config.loader import parse_config, resolve_secrets
from config.models import (
    AdminListener,
    Config,
    LedgerSettings,
    NcipListener,
    SecretRef,
    Sip2Listener,
    StateSettings,
    is_loopback,
)
from gateway.app.daemon import Bound, Gateway
from gateway.demo.chain import DemoChain, DemoError, deploy_demo_chain
from gateway.demo.holdings import with_holdings, write_exports
from gateway.demo.simulated import item_entries, patron_entries, write_manifest
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import serve_simulator_ncip
from gateway.demo.simulator.sip2_server import serve_simulator
from gateway.runtime.members import build_members
from gateway.runtime.rules import build_rules, start_secrets
from gateway.runtime.services import Services

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from config.consortium import Consortium

__all__ = [
    "DEMO_MEMBERS",
    "DEMO_TERMINAL_PASSWORD",
    "Demo",
    "DemoError",
    "DemoShape",
    "gateway_config",
    "run_demo",
]

log = structlog.get_logger("interlend.demo")

DEMO_MEMBERS = ("alpha", "beta", "gamma")
DEMO_TERMINAL_PASSWORD = "demo"
DEMO_BATCH_INTERVAL_S = 2.0
"""How old the demo lets a batch's first loan event get before anchoring it."""
PASSWORD_ENV = "INTERLEND_DEMO_ILS_PASSWORD"
NCIP_KEY_ENV = "INTERLEND_DEMO_NCIP_KEY"
PATRON_KEY_ENV = "INTERLEND_DEMO_PATRON_KEY"
ADMIN_TOKEN_ENV = "INTERLEND_DEMO_ADMIN_TOKEN"
LEDGER_KEY_ENV = "INTERLEND_DEMO_LEDGER_KEY"
MAX_GATEWAYS = 8


@dataclass
class Demo:
    """A running demo: the gateway, the simulated ILSs and the manifest."""

    gateway: Gateway
    simulators: dict[str, SimulatedIls]
    simulator_scopes: dict[str, trio.CancelScope]
    manifest: dict[str, Any]
    bound: Bound
    ncip_scopes: dict[str, trio.CancelScope] = field(default_factory=dict)
    gateways: list[Gateway] = field(default_factory=list)
    """Every gateway of the demo (``gateway`` is the first)."""
    bounds: list[Bound] = field(default_factory=list)
    """Where each listens, in the same order."""

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
            "admin": AdminListener(
                host=host,
                port=admin_port,
                tokens=() if is_loopback(host) else (SecretRef(env=ADMIN_TOKEN_ENV),),
            ),
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
    patrons = patron_entries(simulators)
    items = item_entries(simulators)
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


@dataclass(frozen=True)
class DemoShape:
    """Where the demo keeps its state and anchors its loans, and how many gateways it
    runs (``interlend demo --state --chain --gateways``)."""

    state_url: str | None = None
    """A Redis shared by the demo's gateways (``None``: in memory)."""
    chain_url: str | None = None
    """A development EVM node's JSON-RPC URL (``None``: the embedded chain)."""
    gateways: int = 1

    def check(self) -> None:
        """Refuse a shape that cannot run, in one line.

        Raises:
            DemoError: Why.
        """
        if not 1 <= self.gateways <= MAX_GATEWAYS:
            raise DemoError(f"--gateways {self.gateways}: choose between 1 and {MAX_GATEWAYS}")
        if self.gateways > 1 and self.state_url is None:
            raise DemoError(
                f"--gateways {self.gateways} needs a shared state store: add --state "
                "redis://HOST:PORT/DB (in memory, each gateway would see only its own loans)"
            )
        if self.chain_url is not None and self.gateways > len(DEMO_MEMBERS):
            raise DemoError(
                f"--gateways {self.gateways} with --chain: at most {len(DEMO_MEMBERS)}, one "
                "per demo library (each anchors with its library's key)"
            )
        if self.state_url is not None and urlsplit(self.state_url).scheme not in (
            "redis",
            "rediss",
        ):
            raise DemoError(f"--state {self.state_url!r} is not a redis:// or rediss:// URL")
        if self.chain_url is not None and urlsplit(self.chain_url).scheme not in (
            "http",
            "https",
        ):
            raise DemoError(f"--chain {self.chain_url!r} is not an http:// or https:// URL")


async def check_state_reachable(settings: StateSettings) -> None:
    """Ping the Redis the demo was pointed at, within its time-out.

    Raises:
        DemoError: It cannot be reached.
    """
    client, _ = redis_client(settings, None)
    try:
        with trio.fail_after(settings.timeout_s + 1.0):
            async with client:
                await client.ping()
    except trio.TooSlowError:
        raise DemoError(f"the state store {settings.url} did not answer in time") from None
    except Exception as exc:  # any failure of the first ping means "cannot be reached"
        reason: BaseException = exc
        while isinstance(reason, BaseExceptionGroup) and len(reason.exceptions) == 1:
            reason = reason.exceptions[0]  # coredis's task group wraps the connection error
        raise DemoError(f"the state store {settings.url} cannot be reached: {reason}") from None


def _port(base: int, index: int) -> int:
    return base + index if base else 0


def gateway_config(
    config: Config, index: int, host: str, shape: DemoShape, chain: DemoChain | None
) -> Config:
    """Gateway ``index``'s configuration: the demo's, on its own ports (the chosen ones
    plus ``index``), with the shared store and the chain of ``shape``."""
    settings = config.gateway
    update: dict[str, Any] = {}
    sip2 = settings.sip2[0]
    update["sip2"] = (sip2.model_copy(update={"port": _port(sip2.port, index)}),)
    if settings.ncip is not None:
        update["ncip"] = settings.ncip.model_copy(update={"port": _port(settings.ncip.port, index)})
    if settings.admin is not None:
        tokens = () if is_loopback(host) else (SecretRef(env=ADMIN_TOKEN_ENV),)
        update["admin"] = AdminListener(
            host=host, port=_port(settings.admin.port, index), tokens=tokens
        )
    if shape.state_url is not None:
        update["state"] = StateSettings(backend="redis", url=shape.state_url)
        update["patron_key_secret"] = SecretRef(env=PATRON_KEY_ENV)
    if chain is not None:
        member = DEMO_MEMBERS[index]
        update["ledger"] = LedgerSettings(
            backend="evm",
            rpc_url=chain.rpc_url,
            chain_id=chain.chain_id,
            contract=chain.contract,
            deploy_block=chain.deploy_block,
            key=SecretRef(env=f"{LEDGER_KEY_ENV}_{member.upper()}"),
            batch_interval_s=DEMO_BATCH_INTERVAL_S,
        )
    return config.model_copy(update={"gateway": settings.model_copy(update=update)})


def _gateways(
    config: Config,
    host: str,
    shape: DemoShape,
    chain: DemoChain | None,
    adjust: Callable[[Config], Config] | None,
    handle_signals: bool,
) -> tuple[Consortium, list[Gateway]]:
    """The demo's gateways, not yet running (the first one watches the signals), and
    the consortium they serve."""
    gateways: list[Gateway] = []
    consortium: Consortium | None = None
    for index in range(shape.gateways):
        one = gateway_config(config, index, host, shape, chain)
        consortium = build_consortium(adjust(one) if adjust is not None else one)
        found, issues = resolve_secrets(consortium)
        if issues:  # pragma: no cover - the demo set the variables
            raise ConfigError.of(issues)
        rules = build_rules(consortium, found)
        services = Services(build_members(consortium, found), MemoryStateStore(), MemoryLedger())
        gateways.append(
            Gateway(
                rules,
                services,
                start_secrets(rules, found),
                handle_signals=handle_signals and index == 0,
                open_configured_state=shape.state_url is not None,
                name=f"g{index + 1}" if shape.gateways > 1 else "",
            )
        )
    assert consortium is not None  # DemoShape.check: at least one gateway
    return consortium, gateways


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
    shape: DemoShape = DemoShape(),
    task_status: trio.TaskStatus[Demo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the demo until its gateways stop (Ctrl-C, SIGTERM or ``gateway.stop()`` of
    any of them: the others are stopped too, gracefully).

    ``adjust`` may change the demo configuration before it is used (tests shorten
    time-outs or point a member at a dead port with it).  The gateways reach the
    members in ``ncip_members`` over NCIP (their simulators' NCIP endpoints, with a
    temporary item at home for each reciprocal loan) instead of SIP2.  ``shape`` puts
    the registry in Redis, the ledger on an EVM node, and runs several gateways.

    Raises:
        DemoError: The shape cannot run (see ``DemoShape.check``), Redis or the chain
            cannot be reached.
    """
    shape.check()
    password = secrets.token_urlsafe(18)
    os.environ[PASSWORD_ENV] = password
    ncip_key = secrets.token_urlsafe(18)
    os.environ[NCIP_KEY_ENV] = ncip_key
    os.environ[PATRON_KEY_ENV] = secrets.token_urlsafe(24)
    admin_token = secrets.token_urlsafe(24)
    os.environ[ADMIN_TOKEN_ENV] = admin_token
    if shape.state_url is not None:
        await check_state_reachable(StateSettings(backend="redis", url=shape.state_url))
    chain: DemoChain | None = None
    if shape.chain_url is not None:
        chain = await trio.to_thread.run_sync(deploy_demo_chain, shape.chain_url, DEMO_MEMBERS)
        for member in DEMO_MEMBERS[: shape.gateways]:
            os.environ[f"{LEDGER_KEY_ENV}_{member.upper()}"] = chain.keys[member]
    simulators = {m: SimulatedIls(packaged_library(m), password) for m in DEMO_MEMBERS}
    scopes = {m: trio.CancelScope() for m in DEMO_MEMBERS}
    with tempfile.TemporaryDirectory(prefix="interlend-demo-") as exports_folder:
        # The members' holdings exports, which discovery and the console read.
        exports = write_exports(
            {m: sim.library for m, sim in simulators.items()}, Path(exports_folder)
        )
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
            config = with_holdings(config, exports)
            consortium, gateways = _gateways(config, host, shape, chain, adjust, handle_signals)
            running = len(gateways)

            async def serve_gateway(
                gateway: Gateway, *, task_status: trio.TaskStatus[Bound]
            ) -> None:
                nonlocal running
                try:
                    await gateway.run(task_status=task_status)
                finally:
                    running -= 1
                    for other in gateways:  # one stops (a signal, a test): all stop
                        other.stop()
                    if running == 0:
                        nursery.cancel_scope.cancel()  # the simulators stop with the gateways

            bounds = [await nursery.start(serve_gateway, gateway) for gateway in gateways]
            manifest = _manifest(consortium, bounds[0], members, simulators, password, ncip_key)
            for member, (ncip_host, ncip_port) in ncip_members_at.items():
                manifest["members"][member]["ncip"] = {
                    "url": f"http://{ncip_host}:{ncip_port}/ncip"
                }
            manifest["gateways"] = [
                {
                    "name": gateway.name or "g1",
                    "sip2": {"host": bound.sip2[0][0], "port": bound.sip2[0][1]},
                    "ncip": {"url": bound.ncip} if bound.ncip else None,
                    "admin": {"url": bound.admin} if bound.admin else None,
                }
                for gateway, bound in zip(gateways, bounds, strict=True)
            ]
            if not is_loopback(host) and manifest["admin"] is not None:
                manifest["admin"]["token"] = admin_token
            manifest["state"] = {"url": shape.state_url} if shape.state_url else {"memory": True}
            manifest["chain"] = chain.manifest() if chain is not None else None
            if manifest_path is not None:
                write_manifest(manifest_path, manifest)
            log.info(
                "demo ready",
                sip2=[f"{b.sip2[0][0]}:{b.sip2[0][1]}" for b in bounds],
                admin=[b.admin for b in bounds],
                ncip=[b.ncip for b in bounds],
                state=shape.state_url or "memory",
                chain=shape.chain_url or "embedded",
            )
            task_status.started(
                Demo(
                    gateways[0],
                    simulators,
                    scopes,
                    manifest,
                    bounds[0],
                    ncip_scopes,
                    gateways,
                    bounds,
                )
            )


def how_to_try(demo: Demo) -> str:
    """What ``interlend demo`` prints for a person: where to connect and what to send."""
    host, port = demo.bound.sip2[0]
    return "\n".join(
        [
            "interlend demo is running (Ctrl-C stops it).",
            f"  SIP2 gateway : {host}:{port}   terminals alpha-kiosk, beta-kiosk, gamma-desk;"
            f" password {DEMO_TERMINAL_PASSWORD}",
            f"  admin        : {demo.bound.admin or 'off'}   the console for people is at /"
            " (status, loans, analytics, discovery: try 'Atlas of Shared Collections', policies)",
            *(
                f"  gateway {n}    : SIP2 {b.sip2[0][0]}:{b.sip2[0][1]}, admin {b.admin or 'off'}"
                for n, b in enumerate(demo.bounds[1:], start=2)
            ),
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
