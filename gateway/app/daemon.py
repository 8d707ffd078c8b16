"""The daemon: listeners, member health tasks, signals, reload and graceful shutdown.

``Gateway.run`` owns one root nursery:

* a health task per member ILS client (warm pool, 99 keepalive, back-off);
* the SIP2 listeners (plain TCP or TLS, as many as configured), whose connections
  live in their own nursery so that shutdown can drain them;
* the admin HTTP server (health, readiness, metrics, status page, API) and the NCIP
  endpoint (``POST /ncip``), each on its own port, if configured;
* the ledger worker (``gateway/ledger/worker.py``), which batches the registry's loan
  events and anchors them on the configured chain (``[gateway.ledger]``; the embedded
  chain by default); with ``backend = "none"``, the outbox pump, which hands them to
  an in-memory queue instead;
* the breaker sync, which shares circuit-breaker state with the other gateways through
  the state store (``breakers.py``);
* the signal watcher: SIGTERM and SIGINT stop, SIGHUP reloads.

The state store named by ``[gateway.state]`` (in memory, or Redis shared by every
gateway of the consortium) is opened before the listeners and closed after them.

``task_status.started`` reports the bound addresses only once every listener is
bound, so whoever starts the gateway (the CLI, the demo, a test) can connect at once.

Stopping: listeners close first (no new kiosks, no new NCIP connections), connections
waiting for a request close, connections in the middle of one (kiosks and NCIP
messages alike) get ``drain_grace_s`` to finish it, then everything else is
cancelled; the admin port answers until the end.

Reloading re-reads the configuration file in a worker thread and swaps the rules as a
whole (``gateway/runtime/rules.py``) with the member handles; a file with errors is
logged and the running configuration kept.  Member clients whose settings did not
change keep their connections; listener, state store and ledger changes need a restart
(the log says so).  Before that it reads every TLS listener's certificate and key
again from the same paths (``adapters/tls``): new connections get the new certificate,
open ones keep theirs, and files that cannot be used leave the old one serving.
"""

from __future__ import annotations

import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import trio

from adapters.ils.base import Supervised
from adapters.ledger.memory import MemoryLedger
from adapters.state.connect import open_state
from adapters.state.memory import MemoryStateStore
from adapters.tls import ServerTls, TlsFileError, tls_issues
from config.errors import ConfigError, ConfigIssue, format_path
from config.loader import COMMAND_ONLY_SECRETS, load_consortium, resolve_secrets
from config.models import AdminListener
from gateway.app.accept import accept_connections, connection_cap, raise_fd_limit
from gateway.circulation.holdwatch import watch_title_holds
from gateway.ledger.outbox import OutboxConsumerHealth, consumer_name, pump_outbox
from gateway.ncip.responder import NcipResponder
from gateway.network.breakers import share_breakers
from gateway.network.discovery import HoldingsError, HoldingsIndex
from gateway.network.lenders import LendingCounters
from gateway.network.selection.shared import StoreSelectionCounters
from gateway.runtime.members import MemberHandle, build_members
from gateway.runtime.rules import Rules, StartSecrets, build_rules, start_secrets
from gateway.runtime.services import Services
from gateway.sip2.dispatch import INSTANCE, Dispatcher
from gateway.sip2.kiosk import KioskServer
from gateway.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from collections.abc import Mapping

    from adapters.ils.balancing import EndpointBalancer
    from adapters.ledger.base import LoanEvent
    from adapters.state.base import StateBackend
    from config.errors import KeyPath
    from config.models import GatewaySettings, Sip2Listener, TlsSettings
    from gateway.admin.session import ConsoleSessions
    from gateway.app.sockets import Prebound
    from gateway.ledger.worker import LedgerWorker

__all__ = ["Bound", "Gateway", "Loaded", "load"]

log = structlog.get_logger("interlend.daemon")

CERTIFICATE_RENEWAL_WARNING = timedelta(days=21)
"""A listener's certificate expiring sooner than this is logged as a warning when it is
loaded or reloaded."""


@dataclass(frozen=True)
class Bound:
    """Where a started gateway listens."""

    sip2: list[tuple[str, int]]
    admin: str | None = None
    ncip: str | None = None
    """The NCIP endpoint's URL (``…/ncip``), when configured."""


@dataclass(frozen=True)
class Loaded:
    """A configuration loaded: its rules, its members' handles, its start-only secrets."""

    rules: Rules
    members: dict[str, MemberHandle]
    secrets: StartSecrets


def load(
    path: str | Path,
    *,
    previous_rules: Rules | None = None,
    previous_members: Mapping[str, MemberHandle] | None = None,
) -> Loaded:
    """Load a configuration file (members whose settings did not change keep their
    previous handles).

    Raises:
        ConfigError: The file (or a secret it names) is not right.
    """
    # The secrets only commands read are left out: they need not be in its environment.
    consortium = load_consortium(
        path, check_secrets=True, checks=(tls_issues,), skip_secrets=COMMAND_ONLY_SECRETS
    )
    found, _ = resolve_secrets(consortium, skip=COMMAND_ONLY_SECRETS)
    rules = build_rules(consortium, found, previous_rules)
    members = build_members(consortium, found, previous_members)
    return Loaded(rules, members, start_secrets(rules, found))


def lending_counters_for(store: StateBackend) -> LendingCounters:
    """Counters kept in the state store: shared by every gateway on Redis, this
    gateway's own in memory."""
    return LendingCounters(StoreSelectionCounters(store))


@dataclass
class _MemberTask:
    client: Supervised
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


class Gateway:
    """A running gateway (see the module documentation).

    Args:
        rules: The rules to start with.
        services: The services to start with (the state store is replaced by the one
            the configuration names when ``open_configured_state``).
        secrets: The start-only secrets.
        config_path: The file SIGHUP reloads (``None``: reload is refused).
        handle_signals: Install the signal watcher (off in tests that run several).
        open_configured_state: Open the state store the configuration names when the
            gateway starts (``from_file`` does); otherwise keep the given one.
        name: Tells this gateway apart from others in the same process (``interlend
            demo --gateways N``): it goes into its connection ids, its name in the
            outbox's consumer group and its breaker marks.
        prebound: Listening sockets made before the start (``serve --workers``), used
            instead of binding the configured host and port.
        console_sessions: The admin port's console sessions (``serve --workers``: under
            the supervisor's key); a fresh key of its own otherwise.
    """

    def __init__(
        self,
        rules: Rules,
        services: Services,
        secrets: StartSecrets,
        *,
        config_path: str | Path | None = None,
        handle_signals: bool = True,
        open_configured_state: bool = False,
        name: str = "",
        prebound: Prebound | None = None,
        console_sessions: ConsoleSessions | None = None,
    ) -> None:
        self.rules = rules
        self.console_sessions = console_sessions
        self.name = name
        self.instance = f"{INSTANCE}-{name}" if name else INSTANCE
        """This gateway's name among those sharing the state store."""
        self.prebound = prebound
        self.services = services
        self.secrets = secrets
        self.open_configured_state = open_configured_state
        self.config_path = Path(config_path) if config_path is not None else None
        self.handle_signals = handle_signals
        self.metrics = Metrics()
        self.dispatcher = Dispatcher(self.current)
        self.kiosks = KioskServer(
            self.dispatcher,
            lambda: self.rules.settings,
            self.metrics,
            conn_prefix=f"{name}-" if name else "",
        )
        self.metrics.count_from(
            "interlend_pin_events",
            "Patron PIN events: wrong PINs counted (wrong), patrons locked out (locked), "
            "requests refused while locked (refused)",
            "event",
            lambda: self.services.pins.counts,
        )
        self.metrics.count_from(
            "interlend_terminal_logins_refused",
            "Terminal logins (93) refused, by reason, and lock-outs started "
            "(lockout:terminal, lockout:address)",
            "reason",
            lambda: self.dispatcher.logins.counts,
        )
        self.ncip = NcipResponder(self.current)
        self._stop = trio.Event()
        self._members: dict[int, _MemberTask] = {}
        self._root: trio.Nursery | None = None
        self.ready = False
        self.ledger_worker: LedgerWorker | None = None
        """The ledger worker, unless ``gateway.ledger.backend`` is ``none``."""
        self.outbox_health = OutboxConsumerHealth()
        """How the outbox's consumer (the ledger worker or the pump) is doing."""
        self.tls: dict[str, ServerTls] = {}
        """The TLS of each listener that has it, by its key (``gateway.sip2[0].tls``)."""

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Gateway:
        """A gateway for a configuration file, on the state store it names (opened when
        the gateway runs) and the in-memory ledger queue.

        Raises:
            ConfigError: The file is not right.
        """
        loaded = load(path)
        services = Services(loaded.members, MemoryStateStore(), MemoryLedger())
        return cls(
            loaded.rules,
            services,
            loaded.secrets,
            config_path=path,
            open_configured_state=True,
            **kwargs,
        )

    def current(self) -> tuple[Rules, Services]:
        """The rules and services in force."""
        return self.rules, self.services

    def open_kiosks(self) -> int:
        """Kiosk connections open on this gateway now."""
        return self.kiosks.open_connections

    def stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does)."""
        self._stop.set()

    # --- running ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Bound] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until stopped; reports the bound addresses once every listener is up."""
        settings = self.rules.settings
        try:
            async with AsyncExitStack() as stack:
                if self.open_configured_state:
                    store = await stack.enter_async_context(
                        open_state(settings.state, self.secrets.state_password)
                    )
                    self.services = replace(
                        self.services, store=store, counters=lending_counters_for(store)
                    )
                await self._serve(settings, task_status)
        finally:
            await self._close_members()
        log.info("gateway stopped")

    async def load_holdings(self) -> None:
        """(Re)build the discovery index from the configured exports, off the event loop;
        a file that cannot be loaded is logged and skipped."""
        index = HoldingsIndex()
        for export in self.rules.settings.holdings:
            try:
                await trio.to_thread.run_sync(index.load_csv, export.file, export.member)
            except (HoldingsError, OSError) as exc:
                log.error("holdings export not loaded", file=str(export.file), error=str(exc))
        self.services = replace(self.services, holdings=index)

    async def _serve(self, settings: GatewaySettings, task_status: trio.TaskStatus[Bound]) -> None:
        self.kiosks.connection_cap = connection_cap(
            settings.limits.max_connections, raise_fd_limit()
        )
        await self.load_holdings()
        async with trio.open_nursery() as root:
            self._root = root
            if self.handle_signals:
                root.start_soon(self._watch_signals)
            self._start_ledger(root, settings)
            root.start_soon(partial(share_breakers, self._balancers, self.instance))
            # Title holds placed at lenders, followed to filled, withdrawn or expired.
            root.start_soon(watch_title_holds, self.current)
            self._start_members()
            async with trio.open_nursery() as connections:
                async with trio.open_nursery() as accepting:
                    sip2 = [
                        await accepting.start(
                            self._listen,
                            listener,
                            self._server_tls(("gateway", "sip2", index, "tls"), listener.tls),
                            connections,
                            index,
                        )
                        for index, listener in enumerate(settings.sip2)
                    ]
                    admin = ncip = None
                    prebound = self.prebound
                    admin_listener = settings.admin
                    if admin_listener is None and prebound is not None and prebound.admin:
                        admin_listener = AdminListener()  # the supervisor reads it
                    if admin_listener is not None or settings.ncip is not None:
                        from gateway.admin.app import HTTP_ALPN, serve_admin

                        if admin_listener is not None:
                            # A worker's admin socket is private to loopback, read by
                            # its supervisor in the clear; the supervisor's own admin
                            # port is the one with the configured TLS.
                            private = prebound is not None and prebound.admin is not None
                            tls = self._server_tls(
                                ("gateway", "admin", "tls"),
                                None if private else admin_listener.tls,
                                HTTP_ALPN,
                            )
                            admin = await root.start(
                                partial(
                                    serve_admin,
                                    sock=prebound.admin if prebound else None,
                                    tls=tls,
                                    sessions=self.console_sessions,
                                ),
                                self,
                                admin_listener,
                            )
                        if settings.ncip is not None:
                            tls = self._server_tls(
                                ("gateway", "ncip", "tls"), settings.ncip.tls, HTTP_ALPN
                            )
                            # Among the connections: at shutdown it stops taking new
                            # messages and finishes those in flight, as kiosks do.
                            base = await connections.start(
                                partial(
                                    serve_admin,
                                    role="ncip",
                                    shutdown=self._stop.wait,
                                    grace_s=settings.drain_grace_s,
                                    sock=prebound.ncip if prebound else None,
                                    tls=tls,
                                ),
                                self,
                                settings.ncip,
                            )
                            ncip = f"{base.rstrip('/')}/ncip"
                    self.ready = True
                    log.info(
                        "gateway started",
                        sip2=[f"{h}:{p}" for h, p in sip2],
                        admin=admin,
                        ncip=ncip,
                        members=list(self.services.members),
                    )
                    task_status.started(Bound(sip2, admin, ncip))
                    await self._stop.wait()
                    self.ready = False
                    log.info("gateway stopping", grace_s=settings.drain_grace_s)
                    accepting.cancel_scope.cancel()
                self.kiosks.drain()
                connections.cancel_scope.deadline = trio.current_time() + settings.drain_grace_s
            root.cancel_scope.cancel()

    def _balancers(self) -> tuple[dict[str, EndpointBalancer], StateBackend]:
        """The members' endpoint balancers and the state store in force (shared breaker
        state)."""
        members = self.services.members
        balancers = {m: h.balanced.balancer for m, h in members.items() if h.balanced}
        return balancers, self.services.store

    async def _count_loans(self, events: list[LoanEvent]) -> None:
        """The outbox's consumer reports loans and returns to the lending counters."""
        services = self.services
        await services.counters.record_events(events, holds=services.store)

    def _start_ledger(self, root: trio.Nursery, settings: GatewaySettings) -> None:
        if settings.ledger.backend == "none":
            root.start_soon(
                partial(
                    pump_outbox,
                    lambda: self.services.store,
                    lambda: self.services.ledger,
                    consumer=self._consumer(),
                    on_read=self._count_loans,
                    health=self.outbox_health,
                )
            )
            return
        # web3 is imported only when a chain is configured (it takes a second).
        from gateway.ledger.worker import LedgerWorker

        if settings.ledger.backend == "embedded" and settings.state.backend != "memory":
            log.warning(
                "the embedded chain lives in this process: its anchors are lost at exit "
                "while the receipts stay in the shared store; use backend evm"
            )
        record_key = self.secrets.record_key  # fixed while the worker runs
        self.ledger_worker = LedgerWorker(
            settings.ledger,
            store=lambda: self.services.store,
            record_key=lambda: record_key,
            key=self.secrets.ledger_key,
            default_member=settings.institution_id,
            consumer=self._consumer(),
            on_read=self._count_loans,
            health=self.outbox_health,
        )
        root.start_soon(self.ledger_worker.run)

    def _consumer(self) -> str:
        """This gateway's name in the outbox's consumer group."""
        return f"{consumer_name()}-{self.name}" if self.name else consumer_name()

    def _server_tls(
        self, key: KeyPath, settings: TlsSettings | None, alpn: tuple[str, ...] = ()
    ) -> ServerTls | None:
        """A listener's TLS, kept for reload and metrics (``None`` without ``tls``).

        Raises:
            ConfigError: A file cannot be used (checked already when the gateway was
                loaded from a file; a file may have changed since).
        """
        if settings is None:
            return None
        name = format_path(key)
        try:
            tls = ServerTls(name, settings, alpn=alpn)
        except TlsFileError as exc:
            issue = ConfigIssue((*key, exc.setting), exc.message, exc.hint)
            raise ConfigError.of([issue]) from None
        self.tls[name] = tls
        self._certificate_loaded(tls)
        return tls

    def _certificate_loaded(self, tls: ServerTls, event: str = "TLS certificate loaded") -> None:
        info = tls.certificate
        self.metrics.tls_expiry.labels(tls.name).set(info.not_after.timestamp())
        log.info(event, listener=tls.name, serial=info.serial, not_after=info.not_after.isoformat())
        left = info.not_after - datetime.now(UTC)
        if left < CERTIFICATE_RENEWAL_WARNING:
            log.warning(
                "TLS certificate expires soon",
                listener=tls.name,
                serial=info.serial,
                not_after=info.not_after.isoformat(),
                days_left=left.days,
                hint="renew it and send SIGHUP (docs/tls.md)",
            )

    async def _listen(
        self,
        listener: Sip2Listener,
        tls: ServerTls | None,
        connections: trio.Nursery,
        index: int,
        *,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        # TLS is done per connection (``KioskServer.serve``): with the certificate in
        # force when it arrives, and a handshake time limit.
        listeners: list[trio.SocketListener]
        if self.prebound is not None:
            # ``serve --workers``: the supervisor bound the port (SO_REUSEPORT).
            sock = trio.socket.from_stdlib_socket(self.prebound.sip2[index])
            listeners = [trio.SocketListener(sock)]
        else:
            listeners = await trio.open_tcp_listeners(listener.port, host=listener.host)
        host, port = listeners[0].socket.getsockname()[:2]
        task_status.started((host, int(port)))
        handler = partial(self.kiosks.serve, listener=listener, tls=tls)
        try:
            async with trio.open_nursery() as accepting:
                for one in listeners:
                    accepting.start_soon(
                        accept_connections, one, handler, connections, self.metrics
                    )
        finally:
            with trio.CancelScope(shield=True):
                for one in listeners:
                    await one.aclose()

    # --- member clients -------------------------------------------------------------------

    def _start_members(self) -> None:
        assert self._root is not None
        for handle in self.services.members.values():
            client = handle.supervised
            if client is None or id(client) in self._members:
                continue
            task = _MemberTask(client)
            self._members[id(client)] = task
            self._root.start_soon(self._run_member, task)

    async def _run_member(self, task: _MemberTask) -> None:
        with task.scope:
            await task.client.run()

    async def _retire_members(self) -> None:
        live = {id(h.supervised) for h in self.services.members.values() if h.supervised}
        for key in [k for k in self._members if k not in live]:
            task = self._members.pop(key)
            task.scope.cancel()
            await task.client.aclose()

    async def _close_members(self) -> None:
        with trio.CancelScope(shield=True):
            for task in self._members.values():
                await task.client.aclose()
        self._members.clear()

    # --- signals and reload ----------------------------------------------------------------

    async def _watch_signals(self) -> None:
        wanted = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        with trio.open_signal_receiver(*wanted) as received:
            async for signum in received:
                if signum == signal.SIGHUP:
                    await self.reload()
                else:
                    log.info("signal received", signal=signal.Signals(signum).name)
                    self.stop()

    async def reload_certificates(self) -> None:
        """Read every listener's certificate and key again (SIGHUP): new connections
        get them; a listener whose files cannot be used keeps the ones in force."""
        for tls in self.tls.values():
            try:
                await trio.to_thread.run_sync(tls.reload)
            except TlsFileError as exc:
                log.error(
                    "TLS certificate not reloaded: keeping the one in force",
                    listener=tls.name,
                    setting=exc.setting,
                    error=exc.message,
                    hint=exc.hint,
                )
                self.metrics.tls_reloads.labels("failed").inc()
                continue
            self.metrics.tls_reloads.labels("ok").inc()
            self._certificate_loaded(tls, "TLS certificate reloaded")

    async def reload(self) -> bool:
        """Read the listeners' certificates again, then re-read the configuration file
        and swap the rules and the members whose settings changed; keep the running
        ones on errors."""
        await self.reload_certificates()
        if self.config_path is None:
            log.warning("reload refused: the gateway was not started from a file")
            self.metrics.reloads.labels("refused").inc()
            return False
        try:
            loaded = await trio.to_thread.run_sync(
                partial(
                    load,
                    self.config_path,
                    previous_rules=self.rules,
                    previous_members=self.services.members,
                )
            )
        except ConfigError as exc:
            log.error("reload failed: keeping the running configuration", errors=str(exc))
            self.metrics.reloads.labels("failed").inc()
            return False
        except OSError as exc:
            log.error("reload failed: the file cannot be read", error=str(exc))
            self.metrics.reloads.labels("failed").inc()
            return False
        self._warn_restart_only(loaded)
        self.rules = loaded.rules
        self.services = replace(self.services, members=loaded.members)
        self._start_members()
        await self._retire_members()
        await self.load_holdings()
        self.metrics.reloads.labels("ok").inc()
        log.info("configuration reloaded", members=list(loaded.members))
        return True

    def _warn_restart_only(self, loaded: Loaded) -> None:
        """Log what a reload cannot change (it takes effect at the next restart)."""
        now, then = loaded.rules.settings, self.rules.settings
        if (now.sip2, now.admin, now.ncip) != (then.sip2, then.admin, then.ncip):
            log.warning("listener changes take effect at the next restart")
        if now.state != then.state:
            log.warning("state store changes take effect at the next restart")
        if now.ledger != then.ledger or loaded.secrets != self.secrets:
            log.warning("ledger changes take effect at the next restart")
