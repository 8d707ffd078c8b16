"""A demo network shared by a whole test module: run on its own trio loop in a thread.

pytest-trio's async fixtures live for one test, and starting the demo costs most of
a second; page tests and other synchronous tests that only talk to the demo over
sockets can share one instead.  ``demo_in_thread`` starts ``running_demo`` in a
worker thread, returns once its listeners are up, lets the test run coroutines on the
demo's loop (``ThreadedDemo.call``: to seed the registry, say) and stops the demo
gracefully at the end.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from gateway.demo.network import Demo
from tests.helpers.demo import circulation_demo, running_demo

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from config.models import Config

__all__ = ["ThreadedDemo", "demo_in_thread"]

T = TypeVar("T")
START_TIMEOUT_S = 30.0


@dataclass
class ThreadedDemo:
    """A demo running on a trio loop of its own."""

    demo: Demo
    token: trio.lowlevel.TrioToken

    def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``function(*args)`` on the demo's loop and return its result."""
        return trio.from_thread.run(function, *args, trio_token=self.token)


@contextmanager
def demo_in_thread(adjust: Callable[[Config], Config] = circulation_demo) -> Iterator[ThreadedDemo]:
    """The demo network (its configuration passed through ``adjust``) in a thread."""
    started = threading.Event()
    handed: list[ThreadedDemo] = []
    failed: list[BaseException] = []
    stop: list[trio.Event] = []

    async def run() -> None:
        stop.append(trio.Event())
        async with running_demo(adjust) as demo:
            handed.append(ThreadedDemo(demo, trio.lowlevel.current_trio_token()))
            started.set()
            await stop[0].wait()

    def thread_main() -> None:
        try:
            trio.run(run)
        except BaseException as exc:  # handed to the test's thread
            failed.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=thread_main, name="demo", daemon=True)
    thread.start()
    assert started.wait(START_TIMEOUT_S), "the demo did not start"
    if failed:
        raise failed[0]
    try:
        yield handed[0]
    finally:
        trio.from_thread.run_sync(stop[0].set, trio_token=handed[0].token)
        thread.join(START_TIMEOUT_S)
        assert not thread.is_alive(), "the demo did not stop"
        if failed:
            raise failed[0]
