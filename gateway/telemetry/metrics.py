"""Prometheus metrics of one gateway (its own registry, so tests can run several)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from prometheus_client.core import Metric


__all__ = ["CountsCollector", "Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class CountsCollector(Collector):
    """A labelled counter read from a running tally (a ``Counter`` of the code that
    counts) at scrape time, so the counting code needs no reference to the metrics.

    Args:
        name: The metric's name (without ``_total``).
        documentation: Its help text.
        label: The label the tally's keys go in.
        tally: Returns the tally now (it may be replaced, e.g. on reload).
    """

    def __init__(
        self, name: str, documentation: str, label: str, tally: Callable[[], Mapping[str, int]]
    ) -> None:
        self._name, self._documentation, self._label, self._tally = (
            name,
            documentation,
            label,
            tally,
        )

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for key, value in sorted(self._tally().items()):
            family.add_metric([key], value)
        yield family


class Metrics:
    """Counters and gauges the daemon updates; ``render()`` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "interlend_sip2_requests",
            "SIP2 requests answered, by message, route and result",
            ["code", "route", "result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "interlend_sip2_request_seconds",
            "Time from a request's arrival to its answer being written",
            ["code"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.frames_refused = Counter(
            "interlend_sip2_frames_refused",
            "Frames from kiosks refused (96) or ignored, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "interlend_sip2_connections", "Kiosk connections open", registry=self.registry
        )
        self.connections_refused = Counter(
            "interlend_sip2_connections_refused",
            "Kiosk connections closed at once, by the cap they were over (total, per_address)",
            ["cap"],
            registry=self.registry,
        )
        self.connections_closed = Counter(
            "interlend_sip2_connections_closed",
            "Kiosk connections the gateway closed for a limit (bad frames, login timeout, "
            "idle timeout)",
            ["reason"],
            registry=self.registry,
        )
        self.accept_errors = Counter(
            "interlend_sip2_accept_errors",
            "Kiosk connections that could not be accepted (out of file descriptors or memory)",
            registry=self.registry,
        )
        self.log_lines_suppressed = Counter(
            "interlend_log_lines_suppressed",
            "Log lines not written because their kind is rate-limited, by event",
            ["event"],
            registry=self.registry,
        )
        self.member_up = Gauge(
            "interlend_member_up",
            "1 when at least one endpoint of the member's ILS is believed up",
            ["member"],
            registry=self.registry,
        )
        self.member_in_flight = Gauge(
            "interlend_member_in_flight",
            "Requests in flight to the member's ILS",
            ["member"],
            registry=self.registry,
        )
        self.ledger_queued = Gauge(
            "interlend_ledger_queued", "Loan events waiting for the ledger", registry=self.registry
        )
        self.ledger_batches = Gauge(
            "interlend_ledger_anchored_batches",
            "Loan batches this gateway anchored on the chain since it started",
            registry=self.registry,
        )
        self.ledger_events = Gauge(
            "interlend_ledger_anchored_events",
            "Loan events this gateway anchored on the chain since it started",
            registry=self.registry,
        )
        self.ledger_last_batch = Gauge(
            "interlend_ledger_last_batch_seq",
            "Sequence of the last batch anchored on this gateway's member chain",
            registry=self.registry,
        )
        self.ledger_up = Gauge(
            "interlend_ledger_up",
            "1 when the chain is connected and the last attempt did not fail",
            registry=self.registry,
        )
        self._requests: dict[tuple[str, str, str], Counter] = {}
        self._latency: dict[str, Histogram] = {}
        self.reloads = Counter(
            "interlend_config_reloads",
            "Configuration reloads, by result",
            ["result"],
            registry=self.registry,
        )
        self.tls_handshakes_failed = Counter(
            "interlend_tls_handshakes_failed",
            "TLS handshakes that failed on a listener, by kind (timeout, no_client_certificate, "
            "client_certificate_refused, certificate_refused_by_client, not_tls, protocol_version, "
            "closed, other)",
            ["listener", "kind"],
            registry=self.registry,
        )
        self.tls_reloads = Counter(
            "interlend_tls_certificate_reloads",
            "Listener certificates read again on SIGHUP, by result (ok, failed: the one in "
            "force is kept)",
            ["result"],
            registry=self.registry,
        )
        self.tls_expiry = Gauge(
            "interlend_tls_certificate_expiry_timestamp_seconds",
            "When the certificate a listener serves expires (Unix time)",
            ["listener"],
            registry=self.registry,
        )

    def request_answered(self, code: str, route: str, result: str, seconds: float) -> None:
        """Count one answered request and observe its latency.

        The labelled children are kept here: ``labels()`` checks and looks them up
        under a lock, a cost paid on every request for the same few combinations.
        """
        key = (code, route, result)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(code, route, result)
        counter.inc()
        latency = self._latency.get(code)
        if latency is None:
            latency = self._latency[code] = self.latency.labels(code)
        latency.observe(seconds)

    def ledger_observe(
        self, *, queued: int, batches: int, events: int, last_batch_seq: int | None, up: bool
    ) -> None:
        """Set the ledger gauges (from the ledger worker's statistics)."""
        self.ledger_queued.set(queued)
        self.ledger_batches.set(batches)
        self.ledger_events.set(events)
        self.ledger_last_batch.set(last_batch_seq or 0)
        self.ledger_up.set(1 if up else 0)

    def count_from(
        self, name: str, documentation: str, label: str, tally: Callable[[], Mapping[str, int]]
    ) -> None:
        """Expose a running tally as the labelled counter ``name`` (``CountsCollector``)."""
        self.registry.register(CountsCollector(name, documentation, label, tally))

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
