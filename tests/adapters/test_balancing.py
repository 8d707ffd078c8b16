"""Endpoint balancing within a member: the breaker's transitions, the latency average,
the choice of endpoint and the trial probes of half-open endpoints, all on a fake
clock."""

from __future__ import annotations

import math

import pytest

from adapters.ils.balancing import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    EndpointBalancer,
    LatencyEwma,
    LatencySettings,
    Outcome,
    Ticket,
)


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


SETTINGS = BreakerSettings(failure_threshold=3, cool_down_s=10.0, max_cool_down_s=35.0)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at t = 1000 s."""
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    """A breaker that opens after 3 failures and cools down for 10 s."""
    return CircuitBreaker(SETTINGS, clock)


def state(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state (a call, so each read is fresh to the type checker too)."""
    return breaker.state


def fail(breaker: CircuitBreaker, times: int, outcome: Outcome = Outcome.FAILURE) -> None:
    """Send ``times`` requests through ``breaker`` and have each fail."""
    for _ in range(times):
        permit = breaker.admit()
        assert permit is not None
        breaker.record(permit, outcome)


def open_then_half_open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """Open the breaker and let its cool-down run out."""
    fail(breaker, 3)
    clock.advance(10.0)
    assert state(breaker) is BreakerState.HALF_OPEN


class TestBreakerClosed:
    def test_opens_on_the_nth_consecutive_failure(self, breaker: CircuitBreaker) -> None:
        """Two failures leave it closed; the third opens it and it admits nothing."""
        fail(breaker, 2)
        assert state(breaker) is BreakerState.CLOSED
        assert breaker.consecutive_failures == 2
        fail(breaker, 1)
        assert state(breaker) is BreakerState.OPEN
        assert breaker.admit() is None

    def test_timeouts_count_like_failures(self, breaker: CircuitBreaker) -> None:
        """Consecutive timeouts open the breaker too."""
        fail(breaker, 3, Outcome.TIMEOUT)
        assert state(breaker) is BreakerState.OPEN

    def test_a_success_ends_the_run_of_failures(self, breaker: CircuitBreaker) -> None:
        """Failures separated by a success are not consecutive."""
        fail(breaker, 2)
        permit = breaker.admit()
        assert permit is not None
        breaker.record(permit, Outcome.SUCCESS)
        fail(breaker, 2)
        assert state(breaker) is BreakerState.CLOSED
        assert breaker.consecutive_failures == 2

    def test_cancelled_requests_are_no_evidence(self, breaker: CircuitBreaker) -> None:
        """A cancelled request neither counts as a failure nor resets the count."""
        fail(breaker, 2)
        fail(breaker, 5, Outcome.CANCELLED)
        assert breaker.consecutive_failures == 2
        assert state(breaker) is BreakerState.CLOSED


class TestBreakerOpenAndHalfOpen:
    def test_half_open_after_the_cool_down(self, breaker: CircuitBreaker, clock: FakeClock) -> None:
        """The breaker stays open for exactly the cool-down, then waits for its trial."""
        fail(breaker, 3)
        clock.advance(9.9)
        assert state(breaker) is BreakerState.OPEN
        assert breaker.retry_in() == pytest.approx(0.1)
        assert not breaker.trial_due()
        assert breaker.admit_trial() is None
        clock.advance(0.1)
        assert state(breaker) is BreakerState.HALF_OPEN
        assert breaker.retry_in() == 0.0
        assert breaker.trial_due()

    def test_a_half_open_breaker_admits_no_request(
        self, breaker: CircuitBreaker, clock: FakeClock
    ) -> None:
        """Half-open, requests are refused: only the trial probe may go there."""
        open_then_half_open(breaker, clock)
        assert breaker.admit() is None
        trial = breaker.admit_trial()
        assert trial is not None
        assert breaker.admit() is None

    def test_one_trial_at_a_time(self, breaker: CircuitBreaker, clock: FakeClock) -> None:
        """Half-open, the first trial is given and the next is refused until it ends."""
        open_then_half_open(breaker, clock)
        trial = breaker.admit_trial()
        assert trial is not None
        assert trial.trial
        assert not breaker.trial_due()
        assert breaker.admit_trial() is None

    def test_trial_success_closes(self, breaker: CircuitBreaker, clock: FakeClock) -> None:
        """A successful trial closes the breaker with a clean count."""
        open_then_half_open(breaker, clock)
        trial = breaker.admit_trial()
        assert trial is not None
        breaker.record(trial, Outcome.SUCCESS)
        assert state(breaker) is BreakerState.CLOSED
        assert breaker.consecutive_failures == 0
        permit = breaker.admit()
        assert permit is not None
        assert not permit.trial

    def test_trial_failure_reopens_with_a_doubled_cool_down(
        self, breaker: CircuitBreaker, clock: FakeClock
    ) -> None:
        """A failed trial opens the breaker for twice as long, up to the cap."""
        open_then_half_open(breaker, clock)
        expected = [20.0, 35.0, 35.0]  # 10 doubled, then capped at 35
        for cool_down in expected:
            trial = breaker.admit_trial()
            assert trial is not None
            breaker.record(trial, Outcome.TIMEOUT)
            assert state(breaker) is BreakerState.OPEN
            assert breaker.retry_in() == pytest.approx(cool_down)
            clock.advance(cool_down)

    def test_success_resets_the_cool_down(self, breaker: CircuitBreaker, clock: FakeClock) -> None:
        """After a successful trial, the next opening waits the base cool-down again."""
        open_then_half_open(breaker, clock)
        trial = breaker.admit_trial()
        assert trial is not None
        breaker.record(trial, Outcome.FAILURE)  # cool-down now 20
        clock.advance(20.0)
        trial = breaker.admit_trial()
        assert trial is not None
        breaker.record(trial, Outcome.SUCCESS)
        fail(breaker, 3)
        assert breaker.retry_in() == pytest.approx(10.0)

    def test_cancelled_trial_frees_the_slot(
        self, breaker: CircuitBreaker, clock: FakeClock
    ) -> None:
        """A cancelled trial makes the trial due again."""
        open_then_half_open(breaker, clock)
        trial = breaker.admit_trial()
        assert trial is not None
        breaker.record(trial, Outcome.CANCELLED)
        assert state(breaker) is BreakerState.HALF_OPEN
        assert breaker.trial_due()
        again = breaker.admit_trial()
        assert again is not None
        assert again.trial

    def test_results_from_before_a_transition_are_ignored(
        self, breaker: CircuitBreaker, clock: FakeClock
    ) -> None:
        """A late success of a request admitted while closed cannot close an open breaker."""
        late = breaker.admit()
        assert late is not None
        fail(breaker, 3)
        breaker.record(late, Outcome.SUCCESS)
        assert state(breaker) is BreakerState.OPEN
        clock.advance(10.0)
        breaker.record(late, Outcome.SUCCESS)
        assert state(breaker) is BreakerState.HALF_OPEN


class TestBreakerProbes:
    def test_failed_probes_count_while_closed(self, breaker: CircuitBreaker) -> None:
        """Failed health probes open a closed breaker like failed requests."""
        for _ in range(3):
            breaker.record_probe(ok=False)
        assert state(breaker) is BreakerState.OPEN

    def test_good_probe_ends_a_run_of_failures(self, breaker: CircuitBreaker) -> None:
        """A good probe resets a closed breaker's count of failures."""
        fail(breaker, 2)
        breaker.record_probe(ok=True)
        assert breaker.consecutive_failures == 0
        fail(breaker, 2)
        assert state(breaker) is BreakerState.CLOSED

    def test_good_probe_makes_the_trial_due_early_but_does_not_close(
        self, breaker: CircuitBreaker
    ) -> None:
        """While open, a good keep-alive probe moves to half-open at once (the trial is
        due); only the trial closes."""
        fail(breaker, 3)
        breaker.record_probe(ok=True)
        assert state(breaker) is BreakerState.HALF_OPEN
        assert breaker.trial_due()
        breaker.record_probe(ok=True)
        assert state(breaker) is BreakerState.HALF_OPEN
        assert breaker.admit() is None

    def test_failed_probe_while_open_restarts_the_cool_down(
        self, breaker: CircuitBreaker, clock: FakeClock
    ) -> None:
        """A failed probe during the cool-down starts it again, at the same length."""
        fail(breaker, 3)
        clock.advance(8.0)
        breaker.record_probe(ok=False)
        assert breaker.retry_in() == pytest.approx(10.0)

    def test_failed_probe_while_half_open_reopens(
        self, breaker: CircuitBreaker, clock: FakeClock
    ) -> None:
        """A failed probe reopens a half-open breaker; its trial's result is then ignored."""
        open_then_half_open(breaker, clock)
        trial = breaker.admit_trial()
        assert trial is not None
        breaker.record_probe(ok=False)
        assert state(breaker) is BreakerState.OPEN
        breaker.record(trial, Outcome.SUCCESS)
        assert state(breaker) is BreakerState.OPEN


class TestBreakerChanges:
    def test_each_change_of_state_is_told(self, clock: FakeClock) -> None:
        """``on_change`` is called when the breaker opens, turns half-open (by time or by
        a good probe) and closes, and not for a failure that leaves it closed."""
        changes: list[BreakerState] = []
        watched = CircuitBreaker(SETTINGS, clock, lambda: changes.append(watched.state))
        fail(watched, 2)
        assert changes == []
        fail(watched, 1)
        watched.record_probe(ok=True)
        trial = watched.admit_trial()
        assert trial is not None
        watched.record(trial, Outcome.FAILURE)
        assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.OPEN]
        clock.advance(20.0)
        assert state(watched) is BreakerState.HALF_OPEN
        trial = watched.admit_trial()
        assert trial is not None
        watched.record(trial, Outcome.SUCCESS)
        assert changes[3:] == [BreakerState.HALF_OPEN, BreakerState.CLOSED]


@pytest.mark.parametrize(
    "settings",
    [
        {"failure_threshold": 0},
        {"cool_down_s": 0.0},
        {"cool_down_s": 50.0, "max_cool_down_s": 40.0},
    ],
)
def test_breaker_settings_are_checked(settings: dict[str, float]) -> None:
    """Nonsensical breaker settings are refused."""
    with pytest.raises(ValueError, match=r"must be|need"):
        BreakerSettings(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "settings", [{"initial_s": 0.0}, {"decay_s": -1.0}, {"min_weight": 0.0}, {"min_weight": 1.5}]
)
def test_latency_settings_are_checked(settings: dict[str, float]) -> None:
    """Nonsensical latency settings are refused."""
    with pytest.raises(ValueError, match="must be"):
        LatencySettings(**settings)


class TestLatencyEwma:
    def test_first_sample_replaces_the_guess(self) -> None:
        """The initial guess is forgotten at the first measurement."""
        ewma = LatencyEwma(LatencySettings(initial_s=0.05))
        assert ewma.value == 0.05
        ewma.update(0.4, now=10.0)
        assert ewma.value == 0.4
        assert ewma.samples == 1

    def test_back_to_back_samples_get_the_minimum_weight(self) -> None:
        """With no time between samples, the new one weighs ``min_weight``."""
        ewma = LatencyEwma(LatencySettings(min_weight=0.2, decay_s=10.0))
        ewma.update(1.0, now=5.0)
        ewma.update(2.0, now=5.0)
        assert ewma.value == pytest.approx(0.8 * 1.0 + 0.2 * 2.0)

    def test_old_average_fades_with_time(self) -> None:
        """After ``decay_s`` of quiet, the old average keeps ``(1 - min_weight)/e``."""
        ewma = LatencyEwma(LatencySettings(min_weight=0.2, decay_s=10.0))
        ewma.update(1.0, now=0.0)
        ewma.update(3.0, now=10.0)
        keep = 0.8 * math.exp(-1.0)
        assert ewma.value == pytest.approx(keep * 1.0 + (1 - keep) * 3.0)

    def test_a_long_gap_lets_the_new_sample_dominate(self) -> None:
        """After a long quiet spell, the next sample is nearly the whole average."""
        ewma = LatencyEwma(LatencySettings(min_weight=0.2, decay_s=10.0))
        ewma.update(1.0, now=0.0)
        ewma.update(3.0, now=1000.0)
        assert ewma.value == pytest.approx(3.0, abs=1e-6)


def balancer(clock: FakeClock, *names: str) -> EndpointBalancer:
    """A balancer over ``names`` with a 3-failure breaker."""
    return EndpointBalancer(
        list(names),
        clock=clock,
        breaker=SETTINGS,
        latency=LatencySettings(initial_s=0.05, min_weight=1.0),  # latency = last sample
    )


def measure(b: EndpointBalancer, clock: FakeClock, endpoint: str, latency: float) -> None:
    """Send requests until one lands on ``endpoint`` and takes ``latency`` s."""
    for _ in range(10):
        ticket = b.acquire()
        assert ticket is not None
        clock.advance(latency if ticket.endpoint == endpoint else 0.0)
        if ticket.endpoint == endpoint:
            b.release(ticket, Outcome.SUCCESS)
            return
        b.release(ticket, Outcome.CANCELLED)
    raise AssertionError(f"{endpoint} never chosen")


def stats_of(b: EndpointBalancer, endpoint: str) -> tuple[int, float, BreakerState]:
    """(outstanding, latency, state) of ``endpoint``."""
    found = next(s for s in b.statistics() if s.endpoint == endpoint)
    return found.outstanding, found.latency_s, found.state


class TestEndpointBalancer:
    def test_equal_costs_take_turns(self, clock: FakeClock) -> None:
        """Unmeasured endpoints share requests in turn instead of all going to the first."""
        b = balancer(clock, "a", "b", "c")
        chosen = []
        for _ in range(6):
            ticket = b.acquire()
            assert ticket is not None
            chosen.append(ticket.endpoint)
            b.release(ticket, Outcome.CANCELLED)
        assert chosen == ["a", "b", "c", "a", "b", "c"]

    def test_faster_endpoint_wins(self, clock: FakeClock) -> None:
        """With nothing outstanding, the lower latency average wins every time."""
        b = balancer(clock, "a", "b")
        measure(b, clock, "a", 0.30)
        measure(b, clock, "b", 0.10)
        for _ in range(3):
            ticket = b.acquire()
            assert ticket is not None
            assert ticket.endpoint == "b"
            b.release(ticket, Outcome.CANCELLED)

    def test_outstanding_requests_weigh_on_latency(self, clock: FakeClock) -> None:
        """Cost is latency x (outstanding + 1): a fast endpoint with work queued loses to
        an idle slower one once its cost is higher."""
        b = balancer(clock, "fast", "slow")
        measure(b, clock, "fast", 0.10)
        measure(b, clock, "slow", 0.25)
        held: list[Ticket] = []
        for expected in ["fast", "fast", "slow"]:  # costs 0.1, then 0.2, then 0.3 > 0.25
            ticket = b.acquire()
            assert ticket is not None
            assert ticket.endpoint == expected
            held.append(ticket)
        assert stats_of(b, "fast")[0] == 2
        assert stats_of(b, "slow")[0] == 1

    def test_open_endpoints_are_skipped(self, clock: FakeClock) -> None:
        """An endpoint whose breaker is open gets no requests."""
        b = balancer(clock, "a", "b")
        for _ in range(3):
            b.record_probe("a", ok=False)
        for _ in range(4):
            ticket = b.acquire()
            assert ticket is not None
            assert ticket.endpoint == "b"
            b.release(ticket, Outcome.SUCCESS)

    def test_every_breaker_open_means_no_endpoint(self, clock: FakeClock) -> None:
        """When every endpoint is open, acquire says so and tells when to retry."""
        b = balancer(clock, "a", "b")
        for name in ("a", "b"):
            for _ in range(3):
                b.record_probe(name, ok=False)
        clock.advance(4.0)
        assert b.acquire() is None
        assert b.retry_in() == pytest.approx(6.0)

    def test_a_half_open_endpoint_gets_a_trial_probe_not_a_request(self, clock: FakeClock) -> None:
        """Once its cool-down is over, a recovering endpoint gets no request: its client
        takes one trial ticket for it, whose success closes the breaker; only then do
        requests go there again."""
        b = balancer(clock, "a", "b")
        for _ in range(3):
            b.record_probe("a", ok=False)
        clock.advance(10.0)
        assert stats_of(b, "a")[2] is BreakerState.HALF_OPEN
        for _ in range(4):
            ticket = b.acquire()
            assert ticket is not None
            assert ticket.endpoint == "b"
            b.release(ticket, Outcome.CANCELLED)
        [trial] = b.take_trials()
        assert (trial.endpoint, trial.permit.trial) == ("a", True)
        assert b.take_trials() == []  # one trial at a time
        b.release(trial, Outcome.SUCCESS)
        assert stats_of(b, "a")[2] is BreakerState.CLOSED
        assert {t.endpoint for t in (b.acquire(), b.acquire()) if t is not None} == {"a", "b"}

    def test_a_failed_trial_keeps_the_endpoint_out(self, clock: FakeClock) -> None:
        """A failed trial opens the breaker again for a doubled cool-down; requests keep
        going elsewhere."""
        b = balancer(clock, "a", "b")
        for _ in range(3):
            b.record_probe("a", ok=False)
        clock.advance(10.0)
        [trial] = b.take_trials()
        b.release(trial, Outcome.TIMEOUT)
        assert stats_of(b, "a")[2] is BreakerState.OPEN
        assert b.next_trial_in() == pytest.approx(20.0)
        ticket = b.acquire()
        assert ticket is not None
        assert ticket.endpoint == "b"

    def test_a_trial_probe_does_not_feed_the_latency(self, clock: FakeClock) -> None:
        """A trial's time includes connecting and logging in: it is no request's
        latency."""
        b = balancer(clock, "a")
        measure(b, clock, "a", 0.2)
        for _ in range(3):
            b.record_probe("a", ok=False)
        clock.advance(10.0)
        [trial] = b.take_trials()
        clock.advance(1.5)
        b.release(trial, Outcome.SUCCESS)
        assert stats_of(b, "a")[1] == pytest.approx(0.2)

    def test_when_the_next_trial_is_due(self, clock: FakeClock) -> None:
        """No open breaker: never; open: at the end of its cool-down; half-open and
        waiting: now; its trial out: not until the trial has ended."""
        b = balancer(clock, "a", "b")
        assert b.next_trial_in() == math.inf
        for _ in range(3):
            b.record_probe("a", ok=False)
        assert b.next_trial_in() == pytest.approx(10.0)
        clock.advance(4.0)
        assert b.next_trial_in() == pytest.approx(6.0)
        clock.advance(6.0)
        assert b.next_trial_in() == 0.0
        [trial] = b.take_trials()
        assert b.next_trial_in() == math.inf
        b.release(trial, Outcome.CANCELLED)
        assert b.next_trial_in() == 0.0

    def test_a_caller_can_exclude_endpoints_it_tried(self, clock: FakeClock) -> None:
        """``acquire`` skips the endpoints a request already tried, and says when none
        is left."""
        b = balancer(clock, "a", "b")
        measure(b, clock, "a", 0.01)
        ticket = b.acquire(exclude={"a"})
        assert ticket is not None
        assert ticket.endpoint == "b"
        assert b.acquire(exclude={"a", "b"}) is None

    def test_breaker_changes_are_told(self, clock: FakeClock) -> None:
        """The balancer's ``on_change`` hears of every breaker's changes, another
        gateway's trip included."""
        told: list[str] = []
        b = EndpointBalancer(
            ["a", "b"], clock=clock, breaker=SETTINGS, on_change=lambda: told.append("x")
        )
        assert b.trip("b", 5.0)
        assert told == ["x"]

    def test_failures_open_the_breaker_without_touching_latency(self, clock: FakeClock) -> None:
        """Fast failures feed the breaker, not the latency average."""
        b = balancer(clock, "a")
        measure(b, clock, "a", 0.2)
        for _ in range(3):
            ticket = b.acquire()
            assert ticket is not None
            clock.advance(0.001)
            b.release(ticket, Outcome.FAILURE)
        outstanding, latency, state = stats_of(b, "a")
        assert (outstanding, state) == (0, BreakerState.OPEN)
        assert latency == pytest.approx(0.2)

    def test_timeouts_feed_the_elapsed_time(self, clock: FakeClock) -> None:
        """A timed-out request makes the endpoint look as slow as it was."""
        b = balancer(clock, "a")
        measure(b, clock, "a", 0.2)
        ticket = b.acquire()
        assert ticket is not None
        clock.advance(5.0)
        b.release(ticket, Outcome.TIMEOUT)
        assert stats_of(b, "a")[1] == pytest.approx(5.0)

    def test_names_must_be_unique(self, clock: FakeClock) -> None:
        """The same endpoint listed twice is refused."""
        with pytest.raises(ValueError, match="unique"):
            EndpointBalancer(["a", "a"], clock=clock)
