"""The simulated member ILSs on their own (``interlend simulate``).

Each member named gets a simulated ILS (``gateway/demo/simulator``) serving SIP2 and
NCIP, so that a gateway started with a real configuration (``interlend serve``) has
libraries to reach.  The ports are either free ones (port base 0) or consecutive from
a base (``base + i`` for the i-th member, alpha first), which is what the example
configuration ``config/examples/simulated.toml`` points at.

Every simulated ILS takes the same gateway login; its password comes from the
environment variable ``SIMULATOR_PASSWORD_ENV`` when set (as the example configuration
reads it), else a fresh random one is made and given in the manifest.

Once every listener is up the manifest is written (DESIGN.md "Contracts"): the
members' endpoints and credentials, the sample patrons (with their PINs: simulated
data only) and items.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
import trio

from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import serve_simulator_ncip
from gateway.demo.simulator.sip2_server import serve_simulator

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

__all__ = [
    "SIMULATED_MEMBERS",
    "SIMULATOR_PASSWORD_ENV",
    "Simulation",
    "item_entries",
    "patron_entries",
    "run_simulation",
    "unknown_members",
    "write_manifest",
]

log = structlog.get_logger("interlend.simulate")

SIMULATED_MEMBERS = ("alpha", "beta", "gamma")
"""The members whose data ships in the package."""
SIMULATOR_PASSWORD_ENV = "INTERLEND_SIMULATOR_PASSWORD"
"""Where ``interlend simulate`` takes the gateway's password from, when set."""


@dataclass(frozen=True)
class Simulation:
    """Running simulated ILSs: each member's SIP2 and NCIP addresses, and the manifest."""

    sip2: dict[str, tuple[str, int]]
    ncip: dict[str, tuple[str, int]]
    manifest: dict[str, Any]


def patron_entries(simulators: Mapping[str, SimulatedIls]) -> list[dict[str, Any]]:
    """The manifest's sample patrons (proxy accounts left out)."""
    return [
        {"id": p.id, "pin": p.pin, "member": member, "blocked": p.blocked}
        for member, sim in simulators.items()
        for p in sim.library.patrons.values()
        if p.type != "proxy"
    ]


def item_entries(simulators: Mapping[str, SimulatedIls]) -> list[dict[str, Any]]:
    """The manifest's sample items."""
    return [
        {"id": item.id, "member": member}
        for member, sim in simulators.items()
        for item in sim.library.items.values()
    ]


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write a manifest atomically (readers never see half a file)."""
    partial_path = path.with_name(path.name + ".part")
    partial_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial_path.replace(path)


def unknown_members(members: Iterable[str]) -> list[str]:
    """The names among ``members`` that have no simulated data."""
    return [m for m in members if m not in SIMULATED_MEMBERS]


def _port(base: int, index: int) -> int:
    return 0 if base == 0 else base + index


async def run_simulation(
    members: tuple[str, ...] = SIMULATED_MEMBERS,
    *,
    host: str = "127.0.0.1",
    sip2_port_base: int = 0,
    ncip_port_base: int = 0,
    password: str | None = None,
    manifest_path: Path | None = None,
    task_status: trio.TaskStatus[Simulation] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the members' simulated ILSs until cancelled.

    Args:
        members: Which ones (each must be in ``SIMULATED_MEMBERS``).
        host: The address to listen on.
        sip2_port_base: The first member's SIP2 port (the next ones follow); 0 for free
            ports.
        ncip_port_base: The same for NCIP.
        password: The gateway's password at every ILS (default: the environment's
            ``SIMULATOR_PASSWORD_ENV``, else a random one).
        manifest_path: Where to write the manifest once everything listens.
        task_status: Receives the running ``Simulation``.

    Raises:
        ValueError: A member has no simulated data.
        OSError: A port cannot be bound.
    """
    if unknown := unknown_members(members):
        raise ValueError(
            f"no simulated data for {', '.join(unknown)} (known: {', '.join(SIMULATED_MEMBERS)})"
        )
    password = password or os.environ.get(SIMULATOR_PASSWORD_ENV) or secrets.token_urlsafe(18)
    simulators = {m: SimulatedIls(packaged_library(m), password) for m in members}
    async with trio.open_nursery() as nursery:
        sip2: dict[str, tuple[str, int]] = {}
        ncip: dict[str, tuple[str, int]] = {}
        for index, (member, sim) in enumerate(simulators.items()):
            sip2[member] = await nursery.start(_serve_sip2, sim, host, _port(sip2_port_base, index))
            ncip[member] = await nursery.start(_serve_ncip, sim, host, _port(ncip_port_base, index))
        manifest = {
            "members": {
                member: {
                    "sip2": {
                        "host": sip2[member][0],
                        "port": sip2[member][1],
                        "login": sim.library.login,
                        "password": password,
                    },
                    "ncip": {"url": f"http://{_url_host(ncip[member][0])}:{ncip[member][1]}/ncip"},
                }
                for member, sim in simulators.items()
            },
            "patrons": patron_entries(simulators),
            "items": item_entries(simulators),
        }
        if manifest_path is not None:
            write_manifest(manifest_path, manifest)
        log.info(
            "simulated ILSs ready",
            sip2={m: f"{h}:{p}" for m, (h, p) in sip2.items()},
            ncip={m: f"{h}:{p}" for m, (h, p) in ncip.items()},
        )
        task_status.started(Simulation(sip2, ncip, manifest))


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _serve_sip2(
    sim: SimulatedIls,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve_simulator(sim, host=host, port=port, task_status=task_status)


async def _serve_ncip(
    sim: SimulatedIls,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve_simulator_ncip(sim, host=host, port=port, task_status=task_status)
