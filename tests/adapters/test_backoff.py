"""The back-off arithmetic shared by the retry loops and the circuit breakers."""

from __future__ import annotations

import pytest

from adapters.backoff import Backoff


def test_delays_double_from_the_base_up_to_the_cap() -> None:
    """Each failure waits twice as long as the one before, never longer than the cap."""
    backoff = Backoff(0.1, 10.0)
    delays = [backoff.next_delay() for _ in range(10)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    assert backoff.failures == 10


def test_reset_starts_over_from_the_base() -> None:
    """After a success the next failure waits the base delay again."""
    backoff = Backoff(0.5, 30.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == 0.5
    assert backoff.next_delay() == 1.0


def test_lengthen_gives_the_delay_after_one_more_failure() -> None:
    """A breaker holds off for ``current_s``; a failed trial doubles it (capped)."""
    backoff = Backoff(10.0, 160.0)
    assert backoff.current_s == 10.0
    assert [backoff.lengthen() for _ in range(6)] == [20.0, 40.0, 80.0, 160.0, 160.0, 160.0]
    assert backoff.current_s == 160.0
    backoff.reset()
    assert backoff.current_s == 10.0


def test_delay_for_matches_the_counting_methods() -> None:
    """``delay_for(n)`` is the delay ``next_delay`` gives after ``n`` failures."""
    counted = Backoff(0.3, 7.0)
    pure = Backoff(0.3, 7.0)
    for failures in range(12):
        assert pure.delay_for(failures) == counted.next_delay(), failures


def test_a_long_outage_stays_at_the_cap() -> None:
    """Thousands of failures in a row give the cap, not an overflow (2.0 ** 1024 does
    not fit a float)."""
    backoff = Backoff(0.5, 30.0)
    assert backoff.delay_for(5000) == 30.0
    for _ in range(2000):
        backoff.next_delay()
    assert backoff.current_s == 30.0


def test_a_base_equal_to_the_cap_never_grows() -> None:
    """With ``base_s == cap_s`` every delay is the same."""
    backoff = Backoff(2.0, 2.0)
    assert [backoff.next_delay() for _ in range(3)] == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(("base_s", "cap_s"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_bad_bounds_are_refused(base_s: float, cap_s: float) -> None:
    """A base that is not positive, or above the cap, is a programming error."""
    with pytest.raises(ValueError, match="0 < base_s <= cap_s"):
        Backoff(base_s, cap_s)


def test_a_negative_count_is_refused() -> None:
    """``delay_for`` of a negative count is a programming error."""
    with pytest.raises(ValueError, match="negative"):
        Backoff(1.0, 2.0).delay_for(-1)
