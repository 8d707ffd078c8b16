"""A member with several endpoints: the SIP2 and NCIP clients spread requests with
``gateway.balancing.EndpointBalancer``, against simulated ILSs over loopback sockets.

The scenarios, for each protocol: a slow and a fast endpoint (most requests go to the
fast one), a dead endpoint (its breaker opens and requests go to the other one), and a
dead endpoint that comes back (a trial probe, never a patron's request, closes its
breaker).  Time is only
bounded, never measured: every test runs under a generous ``fail_after``.
"""

from __future__ import annotations

import trio

from adapters.ils.balancing import BreakerSettings
from tests.helpers.arrivals import held
from tests.helpers.polling import eventually
from tests.helpers.services import dead_port, free_port

from .endpoints import (
    LIMIT_S,
    REQUESTS,
    TRIP_AT_ONCE,
    breaker_state,
    endpoint_stats,
    healthy,
    ncip_member,
    ncip_request,
    ncip_sim,
    sip2_member,
    sip2_request,
    sip2_sim,
)

# --- a slow and a fast endpoint ------------------------------------------------------------


async def test_sip2_most_requests_go_to_the_fast_endpoint() -> None:
    """The slow endpoint, listed first, gets a request or two; the fast one the rest."""
    with trio.fail_after(LIMIT_S):
        async with sip2_sim() as slow, sip2_sim() as fast:
            slow.ils.delay_s = 0.1
            async with sip2_member(slow.endpoint, fast.endpoint) as ils:
                for _ in range(REQUESTS):
                    assert await sip2_request(ils)
                slow_latency = endpoint_stats(ils, 0)["latency_s"]
                fast_latency = endpoint_stats(ils, 1)["latency_s"]
    assert slow.count("23") + fast.count("23") == REQUESTS
    assert slow.count("23") <= 3
    assert fast.count("23") >= REQUESTS - 3
    assert isinstance(slow_latency, float)
    assert isinstance(fast_latency, float)
    assert slow_latency > fast_latency


async def test_ncip_most_requests_go_to_the_fast_endpoint() -> None:
    """The slow endpoint, listed first, gets a request or two; the fast one the rest."""
    with trio.fail_after(LIMIT_S):
        async with ncip_sim() as slow, ncip_sim() as fast:
            slow.ncip.delay_s = 0.1
            async with ncip_member(slow.endpoint, fast.endpoint) as ils:
                for _ in range(REQUESTS):
                    assert await ncip_request(ils)
    assert slow.count("LookupItem") + fast.count("LookupItem") == REQUESTS
    assert slow.count("LookupItem") <= 3
    assert fast.count("LookupItem") >= REQUESTS - 3


async def test_sip2_concurrent_requests_spread_over_equal_endpoints() -> None:
    """Least outstanding requests: a burst is shared between two equally slow endpoints
    (both hold their answers until all of it is out)."""
    burst = 8
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as first,
            sip2_sim() as second,
            sip2_member(first.endpoint, second.endpoint, concurrency=burst) as ils,
        ):
            async with trio.open_nursery() as nursery:
                # Both hold their answers until the whole burst is out.
                with held(first.ils, codes=("23",)), held(second.ils, codes=("23",)):
                    for _ in range(burst):
                        nursery.start_soon(sip2_request, ils)
                    await eventually(
                        lambda: (
                            endpoint_stats(ils, 0)["outstanding"] == burst // 2
                            and endpoint_stats(ils, 1)["outstanding"] == burst // 2
                        ),
                        timeout=LIMIT_S,
                        what="the burst to be shared",
                    )
            assert endpoint_stats(ils, 0)["outstanding"] == 0
    assert first.count("23") + second.count("23") == burst
    assert first.count("23") == second.count("23") == burst // 2


# --- a dead endpoint ---------------------------------------------------------------------------


async def test_sip2_a_dead_endpoints_breaker_opens_and_requests_go_to_the_other() -> None:
    """Refused connections open the dead endpoint's breaker; every later request is
    answered by the live endpoint."""
    dead = f"127.0.0.1:{dead_port()}"
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as live,
            sip2_member(dead, live.endpoint, breaker=TRIP_AT_ONCE) as ils,
        ):
            answered = [await sip2_request(ils) for _ in range(REQUESTS)]
            assert answered.count(False) <= 1  # the dead endpoint is tried once at most
            assert breaker_state(ils, 0) == "open"
            assert endpoint_stats(ils, 0)["healthy"] is False
            assert "cannot connect" in str(endpoint_stats(ils, 0)["last_error"])
            assert breaker_state(ils, 1) == "closed"
            assert healthy(ils)
    assert live.count("23") == answered.count(True)


async def test_sip2_the_health_loop_opens_a_dead_endpoints_breaker() -> None:
    """Without any request, failed probes open the breaker (default threshold); the
    requests that follow all go to the live endpoint."""
    dead = f"127.0.0.1:{dead_port()}"
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as live,
            sip2_member(dead, live.endpoint, keepalive_s=0.02) as ils,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(ils.run)
            await eventually(lambda: breaker_state(ils, 0) == "open", timeout=LIMIT_S)
            for _ in range(REQUESTS):
                assert await sip2_request(ils)
            # Not closed (its trial probes fail): no request was sent there.
            assert breaker_state(ils, 0) != "closed"
            assert live.count("23") == REQUESTS
            nursery.cancel_scope.cancel()


async def test_ncip_a_dead_endpoints_breaker_opens_and_requests_go_to_the_other() -> None:
    """A refused connection is a failure and the next endpoint answers the same
    request; with the breaker open, the dead endpoint is not tried again."""
    dead = f"http://127.0.0.1:{dead_port()}/ncip"
    with trio.fail_after(LIMIT_S):
        async with (
            ncip_sim() as live,
            ncip_member(dead, live.endpoint, breaker=TRIP_AT_ONCE) as ils,
        ):
            for _ in range(REQUESTS):
                assert await ncip_request(ils)
            assert breaker_state(ils, 0) == "open"
            assert endpoint_stats(ils, 0)["healthy"] is False
            assert endpoint_stats(ils, 0)["requests"] == 1  # tried once, never again
            assert breaker_state(ils, 1) == "closed"
            assert healthy(ils)
    assert live.count("LookupItem") == REQUESTS


async def test_ncip_the_health_loop_opens_a_dead_endpoints_breaker() -> None:
    """Failed LookupAgency probes open the breaker (default threshold)."""
    dead = f"http://127.0.0.1:{dead_port()}/ncip"
    with trio.fail_after(LIMIT_S):
        async with (
            ncip_sim() as live,
            ncip_member(dead, live.endpoint) as ils,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(ils.run)
            await eventually(lambda: breaker_state(ils, 0) == "open", timeout=LIMIT_S)
            for _ in range(REQUESTS):
                assert await ncip_request(ils)
            # Not closed (its trial probes fail): no lookup was sent there.
            assert breaker_state(ils, 0) != "closed"
            assert live.count("LookupItem") == REQUESTS
            nursery.cancel_scope.cancel()


# --- an endpoint that comes back ---------------------------------------------------------------

# Open at the first failure; half-open again soon after.
QUICK_COOL_DOWN = BreakerSettings(failure_threshold=1, cool_down_s=0.2, max_cool_down_s=0.2)


async def test_sip2_a_half_open_endpoint_gets_a_trial_probe_never_a_patron_request() -> None:
    """Dead, then back: once the cool-down is over, patron requests still go only to
    the live endpoint; the health loop's trial probe (99 on a fresh connection) goes to
    the endpoint that is back and closes its breaker."""
    port = free_port()
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as live,
            sip2_member(f"127.0.0.1:{port}", live.endpoint, breaker=QUICK_COOL_DOWN) as ils,
        ):
            while breaker_state(ils, 0) != "open":
                await sip2_request(ils)
            async with sip2_sim(port) as back:
                await eventually(lambda: breaker_state(ils, 0) == "half_open", timeout=LIMIT_S)
                for _ in range(REQUESTS):
                    assert await sip2_request(ils)
                assert back.count("23") == 0  # no patron request was the trial
                assert back.count("99") == 0
                assert breaker_state(ils, 0) == "half_open"
                async with trio.open_nursery() as nursery:
                    await nursery.start(ils.run)
                    await eventually(lambda: breaker_state(ils, 0) == "closed", timeout=LIMIT_S)
                    nursery.cancel_scope.cancel()
                assert back.count("99") == 1  # the trial probe
                assert back.count("23") == 0
                stats = endpoint_stats(ils, 0)
                assert stats["healthy"] is True
                assert stats["failures"] == 0
                assert stats["last_error"] == ""
                assert stats["idle_connections"] == 1  # the trial's connection, kept
                await ils.aclose()


async def test_sip2_a_failed_trial_probe_keeps_the_breaker_open() -> None:
    """Still dead: each trial probe fails and opens the breaker again, and every
    patron request is answered by the live endpoint meanwhile."""
    dead = f"127.0.0.1:{dead_port()}"
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as live,
            sip2_member(dead, live.endpoint, breaker=QUICK_COOL_DOWN) as ils,
            trio.open_nursery() as nursery,
        ):
            while breaker_state(ils, 0) != "open":
                await sip2_request(ils)
            failures = endpoint_stats(ils, 0)["failures"]
            await nursery.start(ils.run)
            await eventually(
                lambda: endpoint_stats(ils, 0)["failures"] != failures, timeout=LIMIT_S
            )
            assert breaker_state(ils, 0) != "closed"
            for _ in range(REQUESTS):
                assert await sip2_request(ils)
            assert breaker_state(ils, 0) != "closed"
            nursery.cancel_scope.cancel()
    assert live.count("23") >= REQUESTS


async def test_ncip_a_half_open_endpoint_gets_a_trial_probe_never_a_patron_request() -> None:
    """Dead, then back: patron lookups keep going to the live endpoint while the
    breaker is half-open; the trial LookupAgency closes it."""
    port = free_port()
    with trio.fail_after(LIMIT_S):
        async with (
            ncip_sim() as live,
            ncip_member(
                f"http://127.0.0.1:{port}/ncip", live.endpoint, breaker=QUICK_COOL_DOWN
            ) as ils,
        ):
            while breaker_state(ils, 0) != "open":
                assert await ncip_request(ils)  # the live endpoint answers meanwhile
            async with ncip_sim(port) as back:
                await eventually(lambda: breaker_state(ils, 0) == "half_open", timeout=LIMIT_S)
                for _ in range(REQUESTS):
                    assert await ncip_request(ils)
                assert back.ncip.calls == []  # no patron request was the trial
                async with trio.open_nursery() as nursery:
                    await nursery.start(ils.run)
                    await eventually(lambda: breaker_state(ils, 0) == "closed", timeout=LIMIT_S)
                    nursery.cancel_scope.cancel()
                assert back.count("LookupAgency") == 1
                assert back.count("LookupItem") == 0
                assert endpoint_stats(ils, 0)["healthy"] is True
                assert healthy(ils)
                await ils.aclose()
