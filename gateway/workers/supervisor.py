"""The supervisor of ``interlend serve --workers N``.

It owns the ports and N worker processes (``worker.py``), each a whole gateway:

* **Listeners.**  With ``SO_REUSEPORT`` (``reuseport``) the supervisor binds each SIP2
  and NCIP address without listening, which holds the port (and picks one for port 0),
  and every worker listens on it itself; elsewhere (``shared``) it listens once and
  the workers inherit the socket (``gateway/app/sockets.py``).  Each worker also gets a
  private admin socket on loopback, kept by the supervisor across that worker's
  restarts.
* **Restarts.**  A worker that exits while the supervisor is not stopping is started
  again after a back-off that doubles with each quick death (``RESTART_MIN_S`` up to
  ``RESTART_MAX_S``), and starts over once a worker has lived ``STABLE_AFTER_S``.
* **Signals.**  SIGTERM/SIGINT: every worker is sent SIGTERM and drains as a lone
  gateway does; those still running ``drain_grace_s + KILL_MARGIN_S`` later are
  killed.  SIGHUP is passed to every worker, which reloads the configuration file.
* **Admin port.**  The configured admin port is the supervisor's (``front.py``): the
  workers' metrics combined, the rest from a ready worker.  Console sessions are
  signed with one key the supervisor makes and hands to each worker, so a cookie
  issued by one worker is good at the front and at the others.
* **Readiness.**  A worker says ``ready`` on its standard output once its listeners
  are up; the supervisor keeps the write end of each worker's standard input, whose
  end tells a worker its supervisor is gone.

Only a shared state store (Redis) can be served this way: with the in-memory store,
each worker would keep a registry of its own (``check_shareable``).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.tls import ServerTls, TlsFileError
from config.errors import ConfigError, ConfigIssue
from config.models import GatewaySettings
from gateway.app.sockets import ShareMode, bind_socket, listening_socket, reuse_port_available
from gateway.workers.front import Front
from gateway.workers.spec import Endpoint, WorkerSpec
from gateway.workers.worker import READY_LINE, SESSION_KEY_ENV

if TYPE_CHECKING:
    from config.models import AdminListener
    from gateway.admin.session import ConsoleSessions

__all__ = ["MAX_WORKERS", "Supervisor", "check_shareable", "restart_delay"]

log = structlog.get_logger("interlend.supervisor")

MAX_WORKERS = 64
RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0
STABLE_AFTER_S = 60.0
KILL_MARGIN_S = 5.0


def restart_delay(quick_deaths: int) -> float:
    """How long to wait before starting a worker again after its ``quick_deaths``-th
    death in a row (each shorter than ``STABLE_AFTER_S``): doubling from
    ``RESTART_MIN_S`` up to ``RESTART_MAX_S``."""
    return float(min(RESTART_MAX_S, RESTART_MIN_S * 2 ** max(0, quick_deaths - 1)))


def check_shareable(settings: GatewaySettings, workers: int) -> str | None:
    """Why these settings cannot run ``workers`` processes, or ``None``."""
    if not 1 <= workers <= MAX_WORKERS:
        return f"--workers {workers}: choose between 1 and {MAX_WORKERS}"
    if workers == 1:
        return None
    if settings.state.backend != "redis":
        return (
            f"--workers {workers} needs a shared state store: each worker would keep its "
            'own in-memory registry. Set [gateway.state] backend = "redis" (and url)'
        )
    if settings.patron_key_secret is None:
        return (
            f"--workers {workers} needs gateway.patron_key_secret: without it each worker "
            "hashes patrons with a random key of its own and cannot find the others' loans"
        )
    if settings.ledger.backend == "embedded":
        return (
            f"--workers {workers} cannot share the embedded chain (one per process): set "
            '[gateway.ledger] backend = "evm" (a node) or "none"'
        )
    return None


@dataclass
class _Slot:
    """One worker's place: its private admin socket and its current process."""

    index: int
    admin: socket.socket
    process: trio.Process | None = None
    ready: bool = False
    restarts: int = 0

    @property
    def admin_url(self) -> str:
        host, port = self.admin.getsockname()[:2]
        return f"http://{host}:{port}"


@dataclass
class Supervisor:
    """Runs ``workers`` gateway processes for the configuration at ``config`` (see the
    module documentation)."""

    config: Path
    settings: GatewaySettings
    workers: int
    log_level: str = "info"
    log_json: bool | None = None
    share: ShareMode = field(
        default_factory=lambda: "reuseport" if reuse_port_available() else "shared"
    )
    _slots: list[_Slot] = field(default_factory=list)
    _stop: trio.Event = field(default_factory=trio.Event)
    _restarts: int = 0
    _console_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    """Signs console sessions at the front and in every worker alike."""

    def stopping(self) -> bool:
        """Whether SIGTERM or SIGINT came (workers that exit are not replaced)."""
        return self._stop.is_set()

    # --- what the front reads -------------------------------------------------------------

    def ready_workers(self) -> dict[int, str]:
        """The admin URLs of the workers ready now."""
        return {s.index: s.admin_url for s in self._slots if s.ready}

    def statistics(self) -> tuple[int, int]:
        """Workers ready now, and restarts so far."""
        return sum(s.ready for s in self._slots), self._restarts

    def pids(self) -> dict[int, int]:
        """The process id of each worker running now."""
        return {s.index: s.process.pid for s in self._slots if s.process is not None}

    # --- running ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind, start the workers, and supervise them until SIGTERM/SIGINT.

        Raises:
            OSError: A listener cannot be bound.
        """
        with ExitStack() as held:
            endpoints = self._bind(held)
            self._slots = [
                _Slot(i, held.enter_context(listening_socket("127.0.0.1", 0, reuse_port=False)))
                for i in range(self.workers)
            ]
            sip2, ncip = endpoints
            log.info(
                "supervisor starting",
                workers=self.workers,
                share=self.share,
                sip2=[self._where(e) for e in sip2],
                ncip=self._where(ncip) if ncip else None,
            )
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
                async with trio.open_nursery() as nursery:
                    front = await self._start_front(nursery)
                    async with trio.open_nursery() as keepers:
                        for slot in self._slots:
                            keepers.start_soon(self._keep, slot, sip2, ncip, front)
                        task_status.started()
                        async for signum in sigs:
                            if signum == signal.SIGHUP:
                                # A worker still starting reads the file anyway, and
                                # would die of a SIGHUP before its handler is set.
                                self._signal_all(signal.SIGHUP, ready_only=True)
                                log.info("reload passed to the workers")
                                if front is not None:
                                    await front.reload_certificate()
                                continue
                            log.info("signal received", signal=signal.Signals(signum).name)
                            self._stop.set()
                            self._signal_all(signal.SIGTERM)
                            nursery.start_soon(self._kill_stragglers)
                            break
                    nursery.cancel_scope.cancel()
                    if front is not None:
                        with trio.CancelScope(shield=True):
                            await front.client.aclose()
        log.info("supervisor stopped")

    def _where(self, endpoint: Endpoint) -> str:
        return f"{endpoint.host}:{endpoint.port}"

    def _bind(self, held: ExitStack) -> tuple[tuple[Endpoint, ...], Endpoint | None]:
        """The SIP2 and NCIP endpoints the workers get (see the module documentation)."""
        reuse = self.share == "reuseport"
        addresses = [(one.host, one.port) for one in self.settings.sip2]
        if self.settings.ncip is not None:
            addresses.append((self.settings.ncip.host, self.settings.ncip.port))
        endpoints: list[Endpoint] = []
        for host, port in addresses:
            if reuse:
                sock = held.enter_context(bind_socket(host, port, reuse_port=True))
            else:
                sock = held.enter_context(listening_socket(host, port, reuse_port=False))
            bound_host, bound_port = sock.getsockname()[:2]
            fd = None if reuse else sock.fileno()
            endpoints.append(Endpoint(fd=fd, host=str(bound_host), port=int(bound_port)))
        if self.settings.ncip is not None:
            return tuple(endpoints[:-1]), endpoints[-1]
        return tuple(endpoints), None

    async def _start_front(self, nursery: trio.Nursery) -> Front | None:
        listener = self.settings.admin
        if listener is None:
            return None
        from gateway.admin.auth import bearer_tokens
        from gateway.admin.session import ConsoleSessions

        tokens = bearer_tokens(listener)
        sessions = ConsoleSessions(self._console_key)
        front = Front(
            self.ready_workers,
            self.statistics,
            tokens[0] if tokens else None,
            sessions=sessions,
            tokens=tokens,
        )
        url = await nursery.start(partial(_serve_front, front, listener, tokens, sessions))
        log.info("supervisor admin port", url=url)
        return front

    def _spec(self, slot: _Slot, sip2: tuple[Endpoint, ...], ncip: Endpoint | None) -> WorkerSpec:
        return WorkerSpec(
            config=str(self.config),
            index=slot.index,
            share=self.share,
            sip2=sip2,
            ncip=ncip,
            admin_fd=slot.admin.fileno(),
            log_level=self.log_level,
            log_json=self.log_json,
        )

    async def _keep(
        self, slot: _Slot, sip2: tuple[Endpoint, ...], ncip: Endpoint | None, front: Front | None
    ) -> None:
        """Run the slot's worker, again and again, until the supervisor stops."""
        quick_deaths = 0
        while not self.stopping():
            spec = self._spec(slot, sip2, ncip)
            started = trio.current_time()
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "gateway.workers.worker", spec.dumps()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=spec.inherited_fds(),
                env={**os.environ, SESSION_KEY_ENV: self._console_key.hex()},
                # Out of the terminal's process group: Ctrl-C reaches the supervisor
                # only, which stops the workers in order.
                start_new_session=True,
            )
            slot.process = process
            log.info("worker started", worker=slot.index, pid=process.pid)
            async with trio.open_nursery() as watching:
                watching.start_soon(self._read_ready, slot, process)
                await process.wait()
            slot.ready = False
            slot.process = None
            if front is not None:
                front.retire(slot.index)
            if process.stdin is not None:
                await process.stdin.aclose()
            status = _describe_exit(process.returncode)
            if self.stopping():
                log.info("worker stopped", worker=slot.index, pid=process.pid, status=status)
                return
            lived = trio.current_time() - started
            quick_deaths = 0 if lived >= STABLE_AFTER_S else quick_deaths + 1
            delay = restart_delay(quick_deaths)
            log.error(
                "worker died; starting another",
                worker=slot.index,
                pid=process.pid,
                status=status,
                lived_s=round(lived, 1),
                restart_in_s=delay,
            )
            slot.restarts += 1
            self._restarts += 1
            with trio.move_on_after(delay):
                await self._stop.wait()  # a stop during the back-off ends it

    async def _read_ready(self, slot: _Slot, process: trio.Process) -> None:
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            buffer += chunk
            if not slot.ready and f"{READY_LINE}\n".encode() in buffer:
                slot.ready = True
                log.info("worker ready", worker=slot.index, pid=process.pid)
            buffer = buffer[-64:]

    def _signal_all(self, signum: int, *, ready_only: bool = False) -> None:
        for slot in self._slots:
            if ready_only and not slot.ready:
                continue
            if slot.process is not None and slot.process.returncode is None:
                with suppress(ProcessLookupError):  # it died meanwhile
                    slot.process.send_signal(signum)

    async def _kill_stragglers(self) -> None:
        """Kill the workers still running after their drain time."""
        await trio.sleep(self.settings.drain_grace_s + KILL_MARGIN_S)
        for slot in self._slots:
            if slot.process is not None and slot.process.returncode is None:
                log.error("worker did not drain in time: killed", worker=slot.index)
                slot.process.kill()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "running"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit {code}"


async def _serve_front(
    front: Front,
    listener: AdminListener,
    tokens: tuple[bytes, ...],
    sessions: ConsoleSessions,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    from hypercorn.trio import serve

    from gateway.admin.app import HTTP_ALPN, hypercorn_config
    from gateway.admin.auth import for_role

    tls = None
    if listener.tls is not None:
        try:
            tls = ServerTls("gateway.admin.tls", listener.tls, alpn=HTTP_ALPN)
        except TlsFileError as exc:
            issue = ConfigIssue(("gateway", "admin", "tls", exc.setting), exc.message, exc.hint)
            raise ConfigError.of([issue]) from None
        front.tls = tls
    config = hypercorn_config(tls)
    host = f"[{listener.host}]" if ":" in listener.host else listener.host
    config.bind = [f"{host}:{listener.port}"]
    config.accesslog = None
    config.errorlog = None

    class _Started:
        def started(self, value: list[str] | None = None) -> None:
            scheme = "http" if tls is None else "https"
            task_status.started(value[0] if value else f"{scheme}://{host}:{listener.port}")

    await serve(for_role(front.app(), "admin", tokens, sessions), config, task_status=_Started())
