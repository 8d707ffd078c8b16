"""Prometheus metrics of one gateway (its own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


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
        self._requests: dict[tuple[str, str, str], Counter] = {}
        self._latency: dict[str, Histogram] = {}
        self.reloads = Counter(
            "interlend_config_reloads",
            "Configuration reloads, by result",
            ["result"],
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

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
