"""``GET /api/settlements`` when the node hangs mid-read (a fault a live anvil cannot
be made to show on cue): the answer is a 503 with the reason, in bounded time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import trio
import trio.testing
from starlette.requests import Request

from gateway.admin.settlements import READ_TIMEOUT_S, settlements_endpoint

if TYPE_CHECKING:
    from gateway.admin.view import AdminView


@dataclass
class _HungLink:
    """A connected link whose every chain call hangs (a node that stopped answering
    after accepting the request)."""

    client: object = None

    async def call(self, fn: Any, *args: Any) -> Any:
        await trio.sleep_forever()


@dataclass
class _Worker:
    link: _HungLink


@dataclass
class _View:
    ledger_worker: _Worker


async def test_a_hung_node_is_a_503_after_the_read_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The read is abandoned after ``READ_TIMEOUT_S`` and the reason is given."""
    endpoint = settlements_endpoint(cast("AdminView", _View(_Worker(_HungLink()))))
    request = Request({"type": "http", "method": "GET", "path": "/api/settlements"})
    started = trio.current_time()
    answer = await endpoint(request)
    assert trio.current_time() - started == READ_TIMEOUT_S
    assert answer.status_code == 503
    assert json.loads(bytes(answer.body)) == {"error": "the chain did not answer within 20 s"}
