"""``[gateway.admin] tls`` under ``serve --workers``: the supervisor's admin port (the one
operators and browsers reach) serves HTTPS, and a worker's private admin socket, which
only the supervisor reads over loopback, stays plain HTTP so the supervisor can read it.

Both halves run in this process, on real sockets and certificates made by the test."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import httpx
import trio

from config.models import AdminListener
from gateway.admin.session import ConsoleSessions
from gateway.app.daemon import Gateway
from gateway.app.sockets import Prebound, listening_socket
from gateway.workers.front import Front
from gateway.workers.supervisor import _serve_front
from tests.helpers.cli import ROOT
from tests.helpers.tls import Authority

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

LIMIT_S = 20


async def test_the_supervisors_admin_port_serves_https(tmp_path: Path) -> None:
    """With ``tls`` on the admin port, the supervisor's front answers over HTTPS with the
    configured certificate, and not in the clear."""
    authority = Authority.new(tmp_path / "pki")
    listener = AdminListener(port=0, tls=authority.tls("admin"))
    front = Front(dict, lambda: (0, 0))
    with trio.fail_after(LIMIT_S):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(partial(_serve_front, front, listener, (), ConsoleSessions()))
            port = int(str(url).rsplit(":", 1)[1])
            async with httpx.AsyncClient(verify=authority.client(), timeout=10) as https:
                health = await https.get(f"https://127.0.0.1:{port}/healthz")
            async with httpx.AsyncClient(timeout=10) as clear:
                try:
                    plain: int | None = (
                        await clear.get(f"http://127.0.0.1:{port}/healthz")
                    ).status_code
                except httpx.HTTPError:
                    plain = None
            nursery.cancel_scope.cancel()
        await front.client.aclose()
    assert str(url).startswith("https://")
    assert health.status_code == 200
    assert plain is None


async def test_a_workers_private_admin_socket_stays_plain_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker given its private admin socket serves it in the clear (the supervisor
    reads it at ``http://127.0.0.1:<port>``) even though the admin port has ``tls``."""
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "ncip-key")
    authority = Authority.new(tmp_path / "pki")
    cert, key = authority.issue("admin")
    text = (ROOT / "config" / "demo.toml").read_text(encoding="utf-8")
    text += (
        "\n[gateway]\n"
        f'admin = {{ port = 0, tls = {{ cert = "{cert}", key = "{key}" }} }}\n'
        '\n[gateway.ledger]\nbackend = "none"\n'
        "\n[[gateway.sip2]]\nport = 0\n"
    )
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    admin = listening_socket("127.0.0.1", 0, reuse_port=False)
    port = admin.getsockname()[1]
    sip2 = listening_socket("127.0.0.1", 0, reuse_port=False)
    gateway = Gateway.from_file(
        path, handle_signals=False, prebound=Prebound(sip2=(sip2,), admin=admin)
    )
    with trio.fail_after(LIMIT_S):
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(gateway.run)
            async with httpx.AsyncClient(timeout=10) as clear:
                health = await clear.get(f"http://127.0.0.1:{port}/healthz")
            gateway.stop()
    assert bound.admin is not None
    assert bound.admin.startswith("http://")
    assert health.status_code == 200
