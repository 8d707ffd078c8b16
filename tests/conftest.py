"""Test-wide settings: hypothesis profiles (deterministic in CI), logging as the
gateway configures it, a Redis, and a trio clock that only the test moves
(``frozen_clock``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
import trio.testing
from hypothesis import HealthCheck, settings

from gateway.telemetry.logs import configure_logging
from tests.helpers.services import (
    missing_service,
    start_redis,
    start_redis_cluster,
    start_redis_sentinel,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

# CI runs the same examples every time (derandomized); 100 keeps the whole suite inside
# its time budget on two cores.  Developers' runs draw new ones each time.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=150, deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# The gateway's own logging, not structlog's default: that one draws a traceback with
# rich and every local variable, which for a running gateway takes seconds on a busy
# machine (tests that capture logs are not affected).
configure_logging(level="debug", json=False)

STUCK_S = 5.0
"""Real seconds with every task blocked after which a ``frozen_clock`` jumps on by
itself: a working test never waits that long for nothing (its sockets and threads
keep it busy), so only a stuck one does, and it then fails at its time-out."""


@pytest.fixture
def frozen_clock() -> trio.testing.MockClock:
    """Trio time that stands still until the test calls ``jump``: time-outs, cool-downs
    and heartbeats fall exactly where the test puts them, whatever the machine's load,
    while real sockets and threads work as usual.

    It starts at 0 (a time the gateway must not take for "never").  Unlike
    ``autojump_clock`` it
    does not move while the test waits for a socket; it jumps by itself only once
    every task has been blocked for ``STUCK_S`` real seconds (a stuck test).
    """
    return trio.testing.MockClock(autojump_threshold=STUCK_S)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis for the whole run: ``REDIS_URL``, else a redis-server of our own."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = start_redis(tmp_path_factory.mktemp("redis"))
    if server is None:
        missing_service("redis-server is not installed and REDIS_URL is not set")
        return
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of three primaries for the whole run (``REDIS_CLUSTER_URL`` else)."""
    if os.environ.get("REDIS_CLUSTER_URL"):
        yield os.environ["REDIS_CLUSTER_URL"]
        return
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    if cluster is None:
        missing_service("redis-server or redis-cli is not installed")
        return
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Sentinel's host:port, watching a primary named ``interlend``."""
    pair = start_redis_sentinel(tmp_path_factory.mktemp("redis-sentinel"))
    if pair is None:
        missing_service("redis-server is not installed")
        return
    try:
        yield pair.address
    finally:
        pair.stop()
