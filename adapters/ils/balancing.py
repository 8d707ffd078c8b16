"""Choosing one of a member's ILS endpoints: least loaded, fastest, and not broken.

A member may run its ILS behind several SIP2 or NCIP endpoints.  This module decides,
for each request, which endpoint gets it, and keeps the bookkeeping that decision
needs.  It does no I/O and reads time only through the injected ``clock`` (a
``Callable[[], float]`` of seconds, e.g. ``trio.current_time``), so it is tested as
plain functions with a fake clock.

Rules:

* **Cost.** An endpoint's cost is ``ewma_latency * (outstanding + 1)``: the time a new
  request can expect to wait behind the requests already sent there.  The cheapest
  endpoint whose breaker is closed wins; equal costs take turns, so a member
  with idle, unmeasured endpoints spreads its first requests instead of always using
  the first one.
* **Latency** is an exponentially weighted moving average whose memory fades with
  time as well as with samples: after a quiet spell the next sample counts for more,
  because the old average says little about the endpoint now.  Timeouts feed the
  elapsed time in (a slow endpoint must look slow); fast failures feed nothing (a
  refused connection would otherwise make a dead endpoint look like the fastest).
* **Circuit breaker** per endpoint::

      CLOSED --N consecutive failures/timeouts--> OPEN
      OPEN --cool-down elapsed, or a keep-alive probe succeeds--> HALF_OPEN
      HALF_OPEN --its trial probe succeeds--> CLOSED
      HALF_OPEN --the trial probe fails--> OPEN (cool-down doubled, capped)
      HALF_OPEN --a keep-alive probe fails--> OPEN (the same cool-down)

  Requests go only to closed endpoints.  A half-open endpoint is tried by its client
  with one *trial probe* at a time (``take_trials``): a health check on a fresh
  connection (SIP2 99 after connecting and logging in; NCIP LookupAgency), and only
  its success closes the breaker.  No patron's request is ever the trial, so a member
  that is still down costs no patron an error, and a recovered endpoint is tried
  however poor its latency record.  ``next_trial_in`` tells the client when the next
  trial is due and ``on_change`` wakes it when a breaker changes state.  Results of
  requests admitted before the breaker last changed state are ignored (each ticket
  carries the breaker's generation), so a late answer from before an outage cannot
  close a breaker that has since opened.
* **Keep-alive probes** (the client's periodic health checks) are observations too: a
  failed probe counts as a failure; a good one ends a closed breaker's run of
  failures, and makes an open one half-open at once (its trial probe is then due), but
  never closes it by itself.
* **Cancelled** requests (the caller gave up for its own reasons) free their slot and
  say nothing about the endpoint.

The per-member bulkhead (requests in flight at most) stays with the ILS client, which
holds the ``trio.CapacityLimiter``; this module only spreads what the bulkhead lets
through.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.backoff import Backoff

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

__all__ = [
    "BreakerSettings",
    "BreakerState",
    "CircuitBreaker",
    "EndpointBalancer",
    "EndpointStatistics",
    "LatencyEwma",
    "LatencySettings",
    "Outcome",
    "Permit",
    "Ticket",
]


class Outcome(enum.Enum):
    """How a request sent to an endpoint ended."""

    SUCCESS = "success"
    FAILURE = "failure"  # refused, reset, protocol error: the endpoint is at fault
    TIMEOUT = "timeout"  # no answer within the caller's budget
    CANCELLED = "cancelled"  # the caller gave up for its own reasons: no evidence


class BreakerState(enum.Enum):
    """The circuit breaker's states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerSettings:
    """When a breaker opens and how long it stays open.

    Args:
        failure_threshold: Consecutive failures or timeouts that open the breaker.
        cool_down_s: Seconds an opened breaker waits before its trial probe.
        max_cool_down_s: Each failed trial doubles the cool-down, up to this, so a
            member that stays down is not hit by a trial every few seconds.
    """

    failure_threshold: int = 5
    cool_down_s: float = 10.0
    max_cool_down_s: float = 160.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if not 0 < self.cool_down_s <= self.max_cool_down_s:
            raise ValueError("need 0 < cool_down_s <= max_cool_down_s")


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencySettings:
    """How the latency average moves.

    Args:
        initial_s: The latency assumed for an endpoint never measured.  Low enough
            that a new endpoint gets tried, which is how it gets measured.
        decay_s: Time constant of the fade: after ``decay_s`` without a sample, the
            old average keeps only ``1/e`` of the weight it would otherwise have.
        min_weight: The weight of a new sample when samples come back to back, so a
            burst of answers still moves the average.
    """

    initial_s: float = 0.05
    decay_s: float = 10.0
    min_weight: float = 0.2

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.decay_s <= 0:
            raise ValueError("initial_s and decay_s must be positive")
        if not 0 < self.min_weight <= 1:
            raise ValueError("min_weight must be in (0, 1]")


class LatencyEwma:
    """An exponentially weighted moving average of latency, faded by time.

    The old average's weight is ``(1 - min_weight) * exp(-Δt / decay_s)``, where
    ``Δt`` is the time since the previous sample; the new sample gets the rest.
    The first sample replaces the initial guess outright.
    """

    __slots__ = ("_at", "_settings", "samples", "value")

    def __init__(self, settings: LatencySettings) -> None:
        self._settings = settings
        self.value = settings.initial_s
        self.samples = 0
        self._at = 0.0

    def update(self, sample_s: float, now: float) -> None:
        """Fold one measured latency (seconds) into the average."""
        sample_s = max(0.0, sample_s)
        if self.samples == 0:
            self.value = sample_s
        else:
            gap = max(0.0, now - self._at)
            keep = (1.0 - self._settings.min_weight) * math.exp(-gap / self._settings.decay_s)
            self.value = keep * self.value + (1.0 - keep) * sample_s
        self.samples += 1
        self._at = now


@dataclass(frozen=True, slots=True)
class Permit:
    """A breaker's leave to send one request (``CircuitBreaker.admit``), or its trial
    probe (``CircuitBreaker.admit_trial``, with ``trial`` true)."""

    generation: int
    trial: bool


class CircuitBreaker:
    """One endpoint's breaker (see the module documentation for the transitions).

    Args:
        settings: Threshold and cool-downs.
        clock: Seconds, monotonic.
        on_change: Called (with no argument) whenever the state changes.
    """

    def __init__(
        self,
        settings: BreakerSettings,
        clock: Callable[[], float],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._cool_down = Backoff(settings.cool_down_s, settings.max_cool_down_s)
        """Its ``current_s`` is how long the breaker stays open when it opens."""
        self._retry_at = 0.0
        self._trial_out = False
        self._generation = 0
        self._permit = Permit(0, trial=False)
        """The request permit of this generation (immutable: one serves every request)."""

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cool-down is over is half-open."""
        if self._state is BreakerState.OPEN and self._clock() >= self._retry_at:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures and timeouts since the last success (while closed)."""
        return self._failures

    @property
    def cool_down_s(self) -> float:
        """The cool-down the breaker uses when it opens (a failed trial doubles it)."""
        return self._cool_down.current_s

    def retry_in(self) -> float:
        """Seconds until an open breaker is half-open (0 when it is not open)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self._retry_at - self._clock())
        return 0.0

    def admit(self) -> Permit | None:
        """Leave to send one request now (only while closed), or ``None``."""
        if self._state is BreakerState.CLOSED:  # (``state`` moves only an open breaker)
            permit = self._permit
            if permit.generation != self._generation:
                permit = self._permit = Permit(self._generation, trial=False)
            return permit
        return None

    def admit_trial(self) -> Permit | None:
        """Leave to send the trial probe (while half-open, one at a time), or ``None``."""
        if self.trial_due():
            self._trial_out = True
            return Permit(self._generation, trial=True)
        return None

    def trial_due(self) -> bool:
        """Whether the breaker waits for a trial probe (``admit_trial`` would give one)."""
        return self.state is BreakerState.HALF_OPEN and not self._trial_out

    def record(self, permit: Permit, outcome: Outcome) -> None:
        """The result of a request, or of the trial probe, sent under ``permit``."""
        if permit.generation != self._generation:
            return  # admitted before the last transition: says nothing about now
        if permit.trial:
            self._trial_out = False
        match outcome:
            case Outcome.CANCELLED:
                return
            case Outcome.SUCCESS:
                self._succeeded(trial=permit.trial)
            case Outcome.FAILURE | Outcome.TIMEOUT:
                self._failed(trial=permit.trial)

    def record_probe(self, ok: bool) -> None:
        """A keep-alive probe's result (see the module documentation)."""
        state = self.state
        if ok:
            if state is BreakerState.CLOSED:
                self._failures = 0
            elif state is BreakerState.OPEN:
                self._move(BreakerState.HALF_OPEN)
            return
        if state is BreakerState.CLOSED:
            self._failed(trial=False)
        else:
            # Still down: start the cool-down again (the same length: a keep-alive probe
            # is not the trial, so it does not make the breaker wait longer).
            self._open(self._cool_down.current_s)

    def trip(self, cool_down_s: float) -> bool:
        """Open a closed breaker for ``cool_down_s`` because another gateway found the
        endpoint down (shared breaker state); ``False`` if it was not closed."""
        if self.state is not BreakerState.CLOSED or cool_down_s <= 0:
            return False
        self._open(cool_down_s)
        return True

    def _succeeded(self, *, trial: bool) -> None:
        if trial:
            self._cool_down.reset()
            self._failures = 0
            self._move(BreakerState.CLOSED)
        else:
            self._failures = 0

    def _failed(self, *, trial: bool) -> None:
        if trial:
            self._open(self._cool_down.lengthen())
            return
        self._failures += 1
        if self._failures >= self._settings.failure_threshold:
            self._open(self._cool_down.current_s)

    def _open(self, cool_down: float) -> None:
        self._retry_at = self._clock() + cool_down
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        changed = state is not self._state
        if changed:
            self._generation += 1
            self._trial_out = False
        if state is not BreakerState.CLOSED:
            self._failures = 0
        self._state = state
        if changed and self._on_change is not None:
            self._on_change()


@dataclass(frozen=True, slots=True)
class Ticket:
    """One request sent to ``endpoint``; give it back to ``EndpointBalancer.release``."""

    endpoint: str
    started_at: float
    permit: Permit


@dataclass(frozen=True, slots=True)
class EndpointStatistics:
    """One endpoint's state, for the admin API and metrics."""

    endpoint: str
    state: BreakerState
    outstanding: int
    latency_s: float
    samples: int
    consecutive_failures: int
    retry_in_s: float


class _Endpoint:
    __slots__ = ("breaker", "latency", "name", "outstanding")

    def __init__(self, name: str, breaker: CircuitBreaker, latency: LatencyEwma) -> None:
        self.name = name
        self.breaker = breaker
        self.latency = latency
        self.outstanding = 0

    def cost(self) -> float:
        return self.latency.value * (self.outstanding + 1)


class EndpointBalancer:
    """Spreads one member's requests over its endpoints.

    Args:
        endpoints: The member's endpoints, by name (e.g. ``"host:port"``); unique.
        clock: Seconds, monotonic (``trio.current_time`` in the daemon).
        breaker: Breaker settings shared by every endpoint.
        latency: Latency-average settings.
        on_change: Called (with no argument) whenever a breaker changes state, so the
            client can wake the task that sends trial probes.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        clock: Callable[[], float],
        breaker: BreakerSettings = BreakerSettings(),
        latency: LatencySettings = LatencySettings(),
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if len(set(endpoints)) != len(endpoints):
            raise ValueError("endpoint names must be unique")
        self._clock = clock
        self._endpoints = [
            _Endpoint(name, CircuitBreaker(breaker, clock, on_change), LatencyEwma(latency))
            for name in endpoints
        ]
        self._by_name = {e.name: e for e in self._endpoints}
        self._turn = 0

    def acquire(self, exclude: Collection[str] = ()) -> Ticket | None:
        """Pick an endpoint for one request, or ``None`` when no closed one is left.

        The cheapest closed endpoint not in ``exclude`` (those a caller already tried
        for this request), equal costs taking turns.
        """
        count = len(self._endpoints)
        if count == 1:  # most members: one endpoint, nothing to choose
            only = self._endpoints[0]
            if only.name in exclude:
                return None
            permit = only.breaker.admit()
            if permit is None:
                return None
            only.outstanding += 1
            return Ticket(only.name, self._clock(), permit)
        order = [self._endpoints[(self._turn + k) % count] for k in range(count)]
        closed = [
            e for e in order if e.name not in exclude and e.breaker.state is BreakerState.CLOSED
        ]
        if not closed:
            return None
        chosen = min(closed, key=_Endpoint.cost)  # min keeps the first of equals
        permit = chosen.breaker.admit()
        if permit is None:  # pragma: no cover - a closed breaker always admits
            return None
        chosen.outstanding += 1
        self._turn = (self._endpoints.index(chosen) + 1) % count
        return Ticket(chosen.name, self._clock(), permit)

    def take_trials(self) -> list[Ticket]:
        """A ticket for the trial probe of every half-open endpoint waiting for one.

        The client sends each its probe and releases the ticket with the result: a
        success closes the breaker, a failure or a time-out opens it again.
        """
        tickets: list[Ticket] = []
        for endpoint in self._endpoints:
            permit = endpoint.breaker.admit_trial()
            if permit is not None:
                endpoint.outstanding += 1
                tickets.append(Ticket(endpoint.name, self._clock(), permit))
        return tickets

    def next_trial_in(self) -> float:
        """Seconds until a trial probe is due (0: now; ``inf``: no breaker is open)."""
        if any(e.breaker.trial_due() for e in self._endpoints):
            return 0.0
        waits = [
            e.breaker.retry_in() for e in self._endpoints if e.breaker.state is BreakerState.OPEN
        ]
        return min(waits, default=math.inf)

    def release(self, ticket: Ticket, outcome: Outcome) -> None:
        """Report how the request of ``ticket`` ended."""
        endpoint = self._by_name[ticket.endpoint]
        endpoint.outstanding = max(0, endpoint.outstanding - 1)
        # A trial probe's time includes connecting: it is not a request's latency.
        if outcome in (Outcome.SUCCESS, Outcome.TIMEOUT) and not ticket.permit.trial:
            now = self._clock()
            endpoint.latency.update(now - ticket.started_at, now)
        endpoint.breaker.record(ticket.permit, outcome)

    def open_endpoints(self) -> dict[str, float]:
        """The endpoints whose breaker is open here, with the seconds until a trial."""
        return {
            e.name: e.breaker.retry_in()
            for e in self._endpoints
            if e.breaker.state is BreakerState.OPEN
        }

    def trip(self, endpoint: str, cool_down_s: float) -> bool:
        """Open ``endpoint``'s breaker on another gateway's word (see ``CircuitBreaker.trip``)."""
        found = self._by_name.get(endpoint)
        return found is not None and found.breaker.trip(cool_down_s)

    def record_probe(self, endpoint: str, ok: bool) -> None:
        """A keep-alive probe's result for ``endpoint`` (a trial's goes to ``release``)."""
        self._by_name[endpoint].breaker.record_probe(ok)

    def retry_in(self) -> float:
        """Seconds until some endpoint is closed or half-open (0 if one is now)."""
        return min((e.breaker.retry_in() for e in self._endpoints), default=0.0)

    def statistics(self) -> list[EndpointStatistics]:
        """Every endpoint's state, in configuration order."""
        return [
            EndpointStatistics(
                endpoint=e.name,
                state=e.breaker.state,
                outstanding=e.outstanding,
                latency_s=e.latency.value,
                samples=e.latency.samples,
                consecutive_failures=e.breaker.consecutive_failures,
                retry_in_s=e.breaker.retry_in(),
            )
            for e in self._endpoints
        ]
