"""``interlend reconcile`` on a real Redis registry, against a simulated SIP2 ILS.

The simulators and the registry's setup run in the test's trio loop; the command runs
as a user runs it (``main``), in a worker thread with a trio loop of its own.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import trio

from adapters.state.base import LoanRequest, Reservation, patron_key
from adapters.state.connect import open_state
from config.models import StateSettings
from gateway.cli.main import main
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.sip2_server import serve_simulator
from tests.helpers.members import PASSWORD_ENV, write_config
from tests.helpers.services import dead_port

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from adapters.state.base import StateBackend

PATRON = patron_key(b"secret", "beta", "21002000000001")


def _request(item: str) -> LoanRequest:
    return LoanRequest(
        owner="alpha",
        home="beta",
        item=item,
        patron_key=PATRON,
        proxy_patron="ILL-beta",
        terminal="alpha-kiosk",
        idempotency_key=f"alpha|{item}",
        cap_at_owner=None,
        cap_total=None,
    )


async def _reserve(store: StateBackend, item: str, at: datetime) -> Reservation:
    held = await store.reserve(_request(item), now=at)
    assert isinstance(held, Reservation)
    return held


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status: int = await trio.to_thread.run_sync(main, ["--log-format", "json", *argv])
    return status, capsys.readouterr().out


def _gateway(url: str, namespace: str) -> str:
    return f'[gateway.state]\nbackend = "redis"\nurl = "{url}"\nnamespace = "{namespace}"\n'


async def test_reconcile_on_redis_lists_fixes_and_then_agrees(
    tmp_path: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A loan returned at the owner and a slot it never lent are listed (exit 1), fixed
    with --fix, and a third run finds everything in agreement (exit 0)."""
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    namespace = f"reconcile-{uuid.uuid4().hex[:8]}"
    alpha = SimulatedIls(packaged_library("alpha"), "s3cret")
    alpha.library.items["31001000000001"].holder = "ILL-beta"
    earlier = datetime.now(UTC) - timedelta(hours=1)
    settings = StateSettings(backend="redis", url=redis_url, namespace=namespace)
    async with open_state(settings, None) as store:
        for item in ("31001000000001", "31001000000002"):
            await store.commit(await _reserve(store, item, earlier), due=earlier, now=earlier)
        await _reserve(store, "31001000000005", earlier)
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(serve_simulator, alpha)
            config = write_config(
                tmp_path / "interlend.toml",
                alpha=f"{host}:{port}",
                beta="http://127.0.0.1:1/ncip",
                gateway=_gateway(redis_url, namespace),
            )
            with trio.fail_after(60):
                listed = await _run(capsys, "reconcile", "--config", config)
                fixed = await _run(capsys, "reconcile", "--config", config, "--fix")
                agreed = await _run(capsys, "reconcile", "--config", config, "--json")
            nursery.cancel_scope.cancel()
        assert await store.active_loan("alpha", "31001000000002") is None
        assert await store.unconfirmed(now=datetime.now(UTC)) == []
    status, out = listed
    assert status == 1, out
    assert "alpha/31001000000002 to beta (ILL-beta): returned at the owner: available" in out
    assert "hold alpha/31001000000005 for beta (ILL-beta): not lent at the owner" in out
    assert out.count("[--fix would mend it]") == 2
    assert PATRON not in out
    status, out = fixed
    assert status == 0, out
    assert out.count("[fixed]") == 2
    assert "2 fixed; 0 left for a person" in out
    status, out = agreed
    assert status == 0, out
    found = json.loads(out)
    assert found["disagreements"] == 0
    assert [x["finding"] for x in found["loans"]] == ["agrees"]


def test_a_memory_registry_cannot_be_reconciled_from_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The in-memory registry belongs to one running gateway: one line, exit 1."""
    config = write_config(tmp_path / "interlend.toml", alpha="127.0.0.1:1", beta="http://x/ncip")
    assert main(["reconcile", "--config", config]) == 1
    assert "only a shared registry (Redis) can be reconciled" in capsys.readouterr().err


def test_an_unknown_owner_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--owner must name a library: one line, exit 2."""
    config = write_config(tmp_path / "interlend.toml", alpha="127.0.0.1:1", beta="http://x/ncip")
    assert main(["reconcile", "--config", config, "--owner", "delta"]) == 2
    err = capsys.readouterr().err
    assert "--owner 'delta' is not a library (libraries: alpha, beta, gamma)" in err


def test_redis_down_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A registry that cannot be reached: the reason in one line, exit 1, no traceback."""
    config = write_config(
        tmp_path / "interlend.toml",
        alpha="127.0.0.1:1",
        beta="http://x/ncip",
        gateway=_gateway(f"redis://127.0.0.1:{dead_port()}/0", "down") + "timeout_s = 1.0\n",
    )
    assert main(["--log-format", "json", "reconcile", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "interlend: the state store:" in err
    assert "Traceback" not in err
