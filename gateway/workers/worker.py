"""One worker of ``interlend serve --workers N``: a whole gateway in its own process.

Run by the supervisor as ``python -m gateway.workers.worker SPEC`` (``spec.py``).  It
serves on the listening sockets it is given, with its admin port on its private
loopback socket (the supervisor reads its metrics there), and:

* checks console session cookies under the supervisor's key (``SESSION_KEY_ENV``), so a
  session opened through one worker is good on all of them;
* writes ``ready`` on standard output once every listener is up;
* drains on SIGTERM and reloads on SIGHUP, as a lone gateway does (the supervisor
  forwards those signals);
* stops, draining, when its standard input closes: the supervisor is gone (even
  killed), and a worker must not outlive it holding the ports.
"""

from __future__ import annotations

import os
import sys

import structlog
import trio

from adapters.state.base import StateUnavailable
from config.errors import ConfigError
from gateway.admin.session import ConsoleSessions
from gateway.app.daemon import Bound, Gateway
from gateway.telemetry.logs import bind_process_fields, configure_logging
from gateway.workers.spec import WorkerSpec

__all__ = ["READY_LINE", "SESSION_KEY_ENV", "main"]

READY_LINE = "ready"
SESSION_KEY_ENV = "INTERLEND_CONSOLE_SESSION_KEY"
"""The console sessions' signing key, in hex, from the supervisor: every worker and
the supervisor's admin port check the same cookies.  In the environment (readable by
this user only, unlike the arguments), and removed from it once read."""

log = structlog.get_logger("interlend.worker")


async def _watch_supervisor(gateway: Gateway) -> None:
    """Stop the gateway once standard input reaches its end (the supervisor is gone)."""
    stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
    try:
        while await stdin.receive_some(1024):
            pass
    except (trio.BrokenResourceError, OSError):
        pass
    log.warning("the supervisor is gone: stopping")
    gateway.stop()


async def run_worker(spec: WorkerSpec) -> None:
    """Run the gateway the spec describes until it stops."""
    key = os.environ.pop(SESSION_KEY_ENV, None)
    sessions = ConsoleSessions(bytes.fromhex(key)) if key else None
    gateway = Gateway.from_file(spec.config, prebound=spec.prebound(), console_sessions=sessions)
    async with trio.open_nursery() as nursery:

        async def serve(*, task_status: trio.TaskStatus[Bound]) -> None:
            await gateway.run(task_status=task_status)
            nursery.cancel_scope.cancel()

        await nursery.start(serve)
        print(READY_LINE, flush=True)  # the supervisor logs it
        nursery.start_soon(_watch_supervisor, gateway)


def main(argv: list[str] | None = None) -> int:
    """The worker process's entry point; returns its exit status."""
    args = sys.argv[1:] if argv is None else argv
    spec = WorkerSpec.loads(args[0])
    configure_logging(level=spec.log_level, json=spec.log_json)
    bind_process_fields(worker=spec.index)
    try:
        trio.run(run_worker, spec)
    except BaseException as raised:
        failure = raised
        while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
            failure = failure.exceptions[0]  # a nursery wraps the one failure in a group
        if isinstance(failure, ConfigError):
            log.error("worker not started: the configuration has errors", errors=str(failure))
            return 1
        if isinstance(failure, StateUnavailable):
            log.error("worker stopped: the state store", detail=failure.detail)
            return 1
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process by the supervisor
    sys.exit(main())
