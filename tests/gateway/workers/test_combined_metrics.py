"""The supervisor's /metrics: workers' registries combined (``gateway/workers/metrics.py``)
and the rules for who may run several workers."""

from __future__ import annotations

import os
import socket
from contextlib import ExitStack
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from config.models import (
    GatewaySettings,
    LedgerSettings,
    NcipListener,
    SecretRef,
    Sip2Listener,
    StateSettings,
)
from gateway.app.sockets import bind_socket, listening_socket, reuse_port_available
from gateway.workers.metrics import WorkerMetrics, parse, render
from gateway.workers.spec import Endpoint, WorkerSpec
from gateway.workers.supervisor import Supervisor, check_shareable, restart_delay

if TYPE_CHECKING:
    from pathlib import Path


def _exposition(requests: int, open_connections: int, latencies: list[float]) -> str:
    """A worker's /metrics, made by prometheus_client as the gateway's is."""
    registry = CollectorRegistry()
    counter = Counter("demo_requests", "requests", ["code"], registry=registry)
    gauge = Gauge("demo_connections", "open", registry=registry)
    histogram = Histogram("demo_seconds", "latency", buckets=(0.1, 1.0), registry=registry)
    counter.labels("11").inc(requests)
    gauge.set(open_connections)
    for latency in latencies:
        histogram.observe(latency)
    return generate_latest(registry).decode()


def _samples(text: bytes) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.decode().splitlines()
        if line and not line.startswith("#")
    }


def test_counters_and_histograms_are_summed_gauges_kept_per_worker() -> None:
    """Counters and histogram series add up; a gauge is given per worker; no _created."""
    combined = WorkerMetrics().combine(
        {0: parse(_exposition(3, 2, [0.05])), 1: parse(_exposition(4, 5, [0.5, 2.0]))}
    )
    samples = _samples(render(combined))
    assert samples['demo_requests_total{code="11"}'] == 7
    assert samples['demo_seconds_bucket{le="0.1"}'] == 1
    assert samples['demo_seconds_bucket{le="1.0"}'] == 2
    assert samples['demo_seconds_bucket{le="+Inf"}'] == 3
    assert samples["demo_seconds_count"] == 3
    assert samples['demo_connections{worker="0"}'] == 2
    assert samples['demo_connections{worker="1"}'] == 5
    assert not [name for name in samples if "_created" in name]


def test_a_dead_workers_counts_stay_in_the_totals() -> None:
    """A worker replaced: the totals keep its last counts (no false counter reset), and
    its gauges go away with it."""
    metrics = WorkerMetrics()
    first = parse(_exposition(10, 3, [0.05]))
    metrics.combine({0: first, 1: parse(_exposition(1, 1, []))})
    metrics.retire(first)
    after = _samples(
        render(metrics.combine({0: parse(_exposition(2, 0, [])), 1: parse(_exposition(1, 1, []))}))
    )
    assert after['demo_requests_total{code="11"}'] == 13
    assert after["demo_seconds_count"] == 1
    assert after['demo_connections{worker="0"}'] == 0


def test_retired_counts_show_with_no_worker_up() -> None:
    """With every worker down at the scrape, the retired totals are still given."""
    metrics = WorkerMetrics()
    metrics.retire(parse(_exposition(5, 1, [])))
    samples = _samples(render(metrics.combine({})))
    assert samples['demo_requests_total{code="11"}'] == 5


def _settings(**changes: object) -> GatewaySettings:
    base = GatewaySettings(
        state=StateSettings(backend="redis"),
        ledger=LedgerSettings(backend="none"),
        patron_key_secret=SecretRef(env="X"),
    )
    return base.model_copy(update=changes)


def test_who_may_run_several_workers() -> None:
    """Several workers need Redis, a fixed patron key and no embedded chain; one worker
    needs nothing; the count is bounded."""
    assert check_shareable(_settings(), 2) is None
    assert check_shareable(_settings(state=StateSettings()), 1) is None
    memory = check_shareable(_settings(state=StateSettings()), 2)
    assert memory is not None
    assert "shared state store" in memory
    keyless = check_shareable(_settings(patron_key_secret=None), 2)
    assert keyless is not None
    assert "patron_key_secret" in keyless
    embedded = check_shareable(_settings(ledger=LedgerSettings()), 3)
    assert embedded is not None
    assert "embedded chain" in embedded
    assert check_shareable(_settings(), 0) is not None
    assert check_shareable(_settings(), 65) is not None


def test_a_held_port_takes_no_connections_until_a_worker_listens() -> None:
    """The supervisor's SO_REUSEPORT holder keeps the port without taking connections:
    they are refused until a worker listens, then go to the worker."""
    if not reuse_port_available():
        return
    with bind_socket("127.0.0.1", 0, reuse_port=True) as holder:
        port = holder.getsockname()[1]
        refused = False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except ConnectionRefusedError:
            refused = True
        with (
            listening_socket("127.0.0.1", port, reuse_port=True) as worker,
            socket.create_connection(("127.0.0.1", port), timeout=5),
        ):
            worker.setblocking(True)
            accepted, _ = worker.accept()
            accepted.close()
    assert refused


def test_shared_mode_hands_one_listening_socket_to_every_worker(tmp_path: Path) -> None:
    """Without SO_REUSEPORT the supervisor listens once; a worker's spec carries the
    descriptor, survives its JSON trip, and the socket it opens accepts kiosks."""
    settings = _settings(sip2=(Sip2Listener(port=0),), ncip=NcipListener(port=0))
    supervisor = Supervisor(tmp_path / "x.toml", settings, 2, share="shared")
    with ExitStack() as held:
        sip2, ncip = supervisor._bind(held)
        assert ncip is not None
        spec = WorkerSpec(str(tmp_path), 0, "shared", sip2, ncip, admin_fd=sip2[0].fd or -1)
        again = WorkerSpec.loads(spec.dumps())
        assert again == spec
        assert again.inherited_fds()[:2] == (sip2[0].fd, ncip.fd)
        assert sip2[0].fd is not None
        worker_side = Endpoint(fd=os.dup(sip2[0].fd)).open()
        with worker_side, socket.create_connection(("127.0.0.1", sip2[0].port or 0), timeout=5):
            worker_side.setblocking(True)
            accepted, _ = worker_side.accept()
            accepted.close()


def test_a_worker_dying_again_and_again_waits_longer_each_time() -> None:
    """The restart back-off doubles from half a second and stops at thirty."""
    assert [restart_delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_the_console_session_key_is_not_in_the_supervisors_repr(tmp_path: Path) -> None:
    """The key that signs every console session stays out of the supervisor's text (a
    log line or a traceback showing it would let a reader forge sessions)."""
    supervisor = Supervisor(tmp_path / "x.toml", _settings(), 2, share="shared")
    key = supervisor._console_key
    assert len(key) == 32
    assert key.hex() not in repr(supervisor)
    assert repr(key) not in repr(supervisor)
