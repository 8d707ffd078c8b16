"""`interlend demo --state --chain --gateways --host`: the demo in production's shape.

One end-to-end test runs two demo gateways on the test Redis with the registry deployed
on a test anvil: a loan made through gateway 1 is seen, returned and proved through
gateway 2.  The rest are the shape's rules and the one-line refusals, without processes.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from config.loader import parse_config
from gateway.cli.main import main
from gateway.demo.network import (
    DemoError,
    DemoShape,
    demo_config,
    gateway_config,
    how_to_try,
    run_demo,
)
from protocols.sip2 import CheckinResponse, CheckoutResponse
from tests.helpers.demo import short_timeouts
from tests.helpers.kiosk import Kiosk, checkin, checkout, close_all
from tests.helpers.polling import eventually
from tests.helpers.services import dead_port, missing_service, start_anvil

if TYPE_CHECKING:
    from collections.abc import Iterator

    from config.models import Config
    from tests.helpers.services import AnvilNode

TIMEOUT = 30
DEMO_TOML = "config/demo.toml"


@pytest.fixture(scope="module")
def demo_anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """A fresh anvil for the demo's chain."""
    node = start_anvil(tmp_path_factory.mktemp("demo-anvil"))
    if node is None:
        missing_service("anvil is not installed: run `npm ci` (make test does)")
        raise AssertionError("unreachable")
    try:
        yield node
    finally:
        node.stop()


def _quick_anchors(config: Config) -> Config:
    """Short time-outs, and anchors every 0.2 s on whatever chain the shape set."""
    config = short_timeouts(config)
    ledger = config.gateway.ledger.model_copy(update={"batch_interval_s": 0.2})
    return config.model_copy(
        update={"gateway": config.gateway.model_copy(update={"ledger": ledger})}
    )


@pytest.mark.slow
async def test_two_gateways_share_redis_and_anchor_on_the_node(
    redis_url: str, demo_anvil: AnvilNode
) -> None:
    """A loan made through gateway 1 is in gateway 2's registry (one Redis), is returned
    there, and its events are anchored on the node and proved through gateway 2."""
    state_url = redis_url.rsplit("/", 1)[0] + "/7"
    shape = DemoShape(state_url=state_url, chain_url=demo_anvil.url, gateways=2)
    with trio.fail_after(TIMEOUT * 3):
        async with trio.open_nursery() as nursery:
            demo = await nursery.start(
                partial(run_demo, handle_signals=False, adjust=_quick_anchors, shape=shape)
            )
            try:
                first, second = demo.bounds
                kiosk = await Kiosk.at(first.sip2[0][0], first.sip2[0][1], "beta-kiosk")
                lent = await kiosk.expect(
                    checkout("21001000000001", "31002000000001"), CheckoutResponse
                )
                desk = await Kiosk.at(second.sip2[0][0], second.sip2[0][1], "gamma-desk")
                returned = await desk.expect(checkin("31002000000001"), CheckinResponse)
                async with httpx.AsyncClient(timeout=5) as client:
                    loans = (await client.get(f"{second.admin}/api/loans")).json()["loans"]
                    loan_id = loans[0]["loan_id"]

                    async def proved() -> dict[str, object] | None:
                        answer = await client.get(f"{second.admin}/api/loans/{loan_id}/proof")
                        body: dict[str, object] = answer.json()
                        events = body.get("events")
                        done = isinstance(events, list) and len(events) == 2
                        return body if answer.status_code == 200 and done else None

                    proof = await eventually(proved, timeout=TIMEOUT, what="the loan's proof")
            finally:
                await close_all()
                demo.gateway.stop()
    assert lent.ok
    assert returned.ok
    assert [(loan["item"], loan["state"]) for loan in loans] == [("31002000000001", "returned")]
    assert proof["status"] == "verified"
    assert demo.manifest["chain"]["contract"].startswith("0x")
    assert {m["member"] for m in demo.manifest["chain"]["members"]} == {"alpha", "beta", "gamma"}
    assert [g["name"] for g in demo.manifest["gateways"]] == ["g1", "g2"]
    assert demo.manifest["state"] == {"url": state_url}
    assert f"gateway 2    : SIP2 127.0.0.1:{second.sip2[0][1]}" in how_to_try(demo)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (DemoShape(gateways=2), "needs a shared state store"),
        (DemoShape(gateways=0), "choose between 1 and 8"),
        (DemoShape(state_url="http://x", gateways=2), "not a redis://"),
        (DemoShape(chain_url="ws://x"), "not an http://"),
        (DemoShape(state_url="redis://x", chain_url="http://x", gateways=4), "at most 3"),
    ],
)
def test_shapes_that_cannot_run_are_refused(shape: DemoShape, message: str) -> None:
    """Each impossible shape is refused with its reason."""
    with pytest.raises(DemoError, match=message):
        shape.check()


def test_each_gateway_gets_its_own_ports_the_store_and_its_key() -> None:
    """Gateway i listens on the chosen ports plus i, uses the shared Redis with one
    patron key, and off loopback its admin port wants a token."""
    config, _, _ = parse_config(DEMO_TOML)
    shape = DemoShape(state_url="redis://127.0.0.1:6379/2", gateways=2)
    base = config.gateway.model_copy(
        update={
            "sip2": (config.gateway.sip2[0].model_copy(update={"port": 6001}),),
            "admin": config.gateway.admin.model_copy(update={"port": 9090})
            if config.gateway.admin
            else None,
        }
    )
    config = config.model_copy(update={"gateway": base})
    second = gateway_config(config, 1, "0.0.0.0", shape, None).gateway
    first = gateway_config(config, 0, "127.0.0.1", shape, None).gateway
    assert [first.sip2[0].port, second.sip2[0].port] == [6001, 6002]
    assert second.admin is not None
    assert second.admin.port == 9091
    assert second.admin.tokens
    assert first.admin is not None
    assert not first.admin.tokens
    assert second.state.backend == "redis"
    assert second.state.url == "redis://127.0.0.1:6379/2"
    assert second.patron_key_secret == first.patron_key_secret is not None


def test_off_loopback_the_demo_admin_port_takes_a_token() -> None:
    """`demo --host 0.0.0.0`: every listener there, the admin port behind a token (a
    configuration off loopback without one is refused at load)."""
    config, _, _ = parse_config(DEMO_TOML)
    anywhere = demo_config(config, {}, "0.0.0.0", 0, 0).gateway
    assert anywhere.sip2[0].host == "0.0.0.0"
    assert anywhere.admin is not None
    assert anywhere.admin.tokens


def test_demo_refuses_an_unreachable_redis(capsys: pytest.CaptureFixture[str]) -> None:
    """`demo --state` at a Redis nobody runs: one line, exit 1, nothing started."""
    url = f"redis://127.0.0.1:{dead_port()}/0"
    status = main(["demo", "--state", url, "--sip2-port", "0", "--admin-port", "0"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith(f"interlend demo: the state store {url} cannot be reached")
    assert err.count("\n") == 1


def test_demo_refuses_an_unreachable_chain(capsys: pytest.CaptureFixture[str]) -> None:
    """`demo --chain` at a node nobody runs: one line, exit 1."""
    url = f"http://127.0.0.1:{dead_port()}"
    status = main(["demo", "--chain", url, "--sip2-port", "0", "--admin-port", "0"])
    err = capsys.readouterr().err
    assert status == 1
    assert err == f"interlend demo: the chain at {url} cannot be reached (ConnectionError)" + (
        "; nothing started\n"
    )


def test_demo_refuses_several_gateways_in_memory(capsys: pytest.CaptureFixture[str]) -> None:
    """`demo --gateways 2` without `--state`: one line, exit 2."""
    status = main(["demo", "--gateways", "2"])
    err = capsys.readouterr().err
    assert status == 2
    assert "--gateways 2 needs a shared state store" in err
    assert err.count("\n") == 1
