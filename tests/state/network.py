"""A consortium on real sockets for state tests: simulated ILSs in the test's nursery,
gateways as separate ``interlend serve`` processes sharing one Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path

import trio

from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.sip2_server import serve_simulator
from tests.helpers.polling import eventually
from tests.helpers.services import free_port

__all__ = [
    "ILS_PASSWORD",
    "PATRON_SECRET",
    "GatewayProcess",
    "gateway_config",
    "start_simulators",
]

ILS_PASSWORD = "sim-pw"
PATRON_SECRET = "shared-patron-key-secret"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_DEFAULT_PORTS = {"alpha": 7101, "beta": 7102, "gamma": 7103}


async def start_simulators(nursery: trio.Nursery) -> tuple[dict[str, SimulatedIls], dict[str, int]]:
    """The three demo libraries' simulated ILSs, serving until the nursery ends."""
    ils: dict[str, SimulatedIls] = {}
    ports: dict[str, int] = {}
    for member in _DEFAULT_PORTS:
        ils[member] = SimulatedIls(packaged_library(member), ILS_PASSWORD)
        _, ports[member] = await nursery.start(partial(serve_simulator, ils[member]))
    return ils, ports


def gateway_config(
    directory: Path,
    name: str,
    ils_ports: dict[str, int],
    *,
    redis_url: str,
    namespace: str,
    timeout_s: float = 1.0,
    require_aof: bool = False,
    ledger: str = "none",
    batch_interval_s: float | None = None,
) -> tuple[Path, int, int]:
    """A gateway's configuration file: the demo consortium, a Redis state store (and no
    chain unless ``ledger`` names a backend: these tests and benches are about state;
    ``batch_interval_s`` sets how soon that ledger anchors a partial batch).

    Returns:
        The file, its SIP2 port and its admin port.
    """
    text = resources.files("config").joinpath("demo.toml").read_text("utf-8")
    for member, port in ils_ports.items():
        text = text.replace(f"127.0.0.1:{_DEFAULT_PORTS[member]}", f"127.0.0.1:{port}")
    sip2, admin = free_port(), free_port()
    text += f"""
[gateway]
admin = {{ port = {admin} }}
patron_key_secret = {{ env = "INTERLEND_TEST_PATRON_SECRET" }}
drain_grace_s = 1.0

[gateway.state]
backend = "redis"
url = "{redis_url}"
namespace = "{namespace}"
timeout_s = {timeout_s}
require_aof = {str(require_aof).lower()}

[gateway.ledger]
backend = "{ledger}"
{"" if batch_interval_s is None else f"batch_interval_s = {batch_interval_s}"}

[[gateway.sip2]]
port = {sip2}
"""
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path, sip2, admin


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class GatewayProcess:
    """``interlend serve`` in a process of its own (its log goes to a file)."""

    config: Path
    sip2_port: int
    admin_port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the gateway and wait until its SIP2 port accepts connections."""
        env = {
            **os.environ,
            "INTERLEND_DEMO_ILS_PASSWORD": ILS_PASSWORD,
            "INTERLEND_DEMO_NCIP_KEY": "demo-ncip-key",
            "INTERLEND_TEST_PATRON_SECRET": PATRON_SECRET,
        }
        log = self.config.with_suffix(".log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the SIP2 port accepts connections (failing at once if the process
        ends first)."""
        process = self.process
        assert process is not None

        async def listening() -> bool:
            assert process.poll() is None, self.log()
            return await trio.to_thread.run_sync(_listening, self.sip2_port)

        await eventually(listening, timeout=timeout, every=0.05, what="the gateway's SIP2 port")

    def kill(self) -> None:
        """``kill -9``: no drain, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL if it does not go)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log(self) -> str:
        """What the gateway logged so far."""
        return self.config.with_suffix(".log").read_text("utf-8", errors="replace")
