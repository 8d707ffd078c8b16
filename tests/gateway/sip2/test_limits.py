"""Fair use of the gateway by many kiosks, over real sockets: bad frames, connection
caps, the login time-out, fair turns between connections, and running out of file
descriptors (``[gateway.limits]``, docs/security.md)."""

from __future__ import annotations

import errno
import json
import resource
import signal
import socket
from typing import TYPE_CHECKING

import httpx
import trio
import trio.testing
from structlog.testing import capture_logs

from gateway.app.accept import accept_connections
from gateway.telemetry.metrics import Metrics
from protocols.sip2 import AcsStatus, ScStatus
from tests.helpers.cli import read_manifest, start_cli
from tests.helpers.demo import circulation_demo, running_demo
from tests.helpers.limits import HONEST_ADDRESS, connect_from, demo_with, login
from tests.helpers.polling import eventually, eventually_blocking

if TYPE_CHECKING:
    from pathlib import Path

    from config.models import Config
    from gateway.demo.network import Demo
    from tests.helpers.kiosk import Kiosk

TIMEOUT = 30
BAD_CHECKSUM = b"9900302.00AY1AZ0000\r"
"""A 99 whose checksum is wrong: answered 96 (resend), never run."""
STATUS = b"9900302.00\r"


async def _frames_until_closed(kiosk: Kiosk) -> list[bytes]:
    """Every frame the gateway sends until it closes the connection."""
    frames: list[bytes] = []
    buffer = b""
    while True:
        try:
            chunk = await kiosk.stream.receive_some(65536)
        except trio.BrokenResourceError:
            chunk = b""
        if not chunk:
            return frames
        buffer += chunk
        *complete, buffer = buffer.split(b"\r")
        frames.extend(complete)


def _metric(demo: Demo, line_start: str) -> float:
    text = demo.gateway.metrics.render().decode()
    found = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


async def test_a_flood_of_bad_frames_before_login_closes_the_connection() -> None:
    """2,048 bad frames in one write from a connection that has not logged in: it gets
    ``max_bad_frames_before_login`` + 1 answers (96) and is closed, its log lines stay
    few, and an honest kiosk is served meanwhile."""
    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        async with demo_with(max_bad_frames_before_login=3) as demo:
            honest = await connect_from(demo, HONEST_ADDRESS)
            assert await login(honest, "beta-kiosk")
            abuser = await connect_from(demo, "127.0.0.1")
            await abuser.stream.send_all(BAD_CHECKSUM * 2048)
            answers = await _frames_until_closed(abuser)
            served = await honest.expect(ScStatus(max_print_width=0), AcsStatus)
            closed = _metric(demo, 'interlend_sip2_connections_closed_total{reason="bad frames"}')
    assert served.online_status is True
    assert len(answers) == 4
    assert all(frame.startswith(b"96") for frame in answers)
    assert closed == 1
    refused_lines = [e for e in logs if e["event"] == "kiosk frame refused"]
    assert len(refused_lines) == 4
    [gone] = [e for e in logs if e["event"] == "kiosk disconnected" and e["terminal"] is None]
    assert gone["why"] == "too many bad frames"


async def test_a_logged_in_kiosk_gets_more_bad_frames_and_sampled_logs() -> None:
    """A logged-in kiosk may send ``max_bad_frames`` in a row; past
    ``logged_bad_frames`` lines per address within ten seconds they are counted, not
    logged, even across a reconnection."""
    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        async with demo_with(max_bad_frames=300, logged_bad_frames=5) as demo:
            kiosk = await connect_from(demo, "127.0.0.1")
            assert await login(kiosk, "beta-kiosk")
            await kiosk.stream.send_all(BAD_CHECKSUM * 400)
            answers = await _frames_until_closed(kiosk)
            suppressed = _metric(demo, 'interlend_log_lines_suppressed_total{event="bad frame"}')
    assert len(answers) == 301
    refused_lines = [e for e in logs if e["event"] == "kiosk frame refused"]
    assert len(refused_lines) == 5
    [gone] = [e for e in logs if e["event"] == "kiosk disconnected"]
    assert gone["why"] == "too many bad frames"
    assert gone["bad_frames_not_logged"] == 301 - 5
    assert suppressed == 301 - 5


async def test_a_served_request_resets_the_bad_frame_count() -> None:
    """Bad frames between good requests do not add up to a closure."""
    with trio.fail_after(TIMEOUT):
        async with demo_with(max_bad_frames=3) as demo:
            kiosk = await connect_from(demo, "127.0.0.1")
            assert await login(kiosk, "beta-kiosk")
            for _ in range(5):
                await kiosk.stream.send_all(BAD_CHECKSUM * 3)
                for _ in range(3):
                    assert (await kiosk.read_frame()).startswith(b"96")
                answer = await kiosk.expect(ScStatus(max_print_width=0), AcsStatus)
                assert answer.online_status is True


async def test_one_connection_cannot_hold_the_loop() -> None:
    """A kiosk sending hundreds of requests in one write is answered in turns with the
    others: an honest kiosk's request sent just after it is answered before the last
    of them."""
    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        async with demo_with() as demo:
            busy = await connect_from(demo, "127.0.0.1")
            assert await login(busy, "alpha-kiosk")
            honest = await connect_from(demo, HONEST_ADDRESS)
            assert await login(honest, "beta-kiosk")
            await busy.stream.send_all(STATUS * 350)  # one read at the gateway
            await honest.expect(ScStatus(max_print_width=0), AcsStatus)
            for _ in range(350):
                await busy.read_frame()
    order = [e["terminal"] for e in logs if e["event"] == "request" and e["code"] == "99"]
    assert order.index("beta-kiosk") < len(order) - 1


async def test_connections_per_address_are_capped() -> None:
    """Past ``max_connections_per_address`` a new connection from that address is
    closed at once and counted; another address still connects and is served."""
    with trio.fail_after(TIMEOUT):
        async with demo_with(max_connections_per_address=2) as demo:
            first = await connect_from(demo, "127.0.0.1")
            second = await connect_from(demo, "127.0.0.1")
            third = await connect_from(demo, "127.0.0.1")
            third_closed = await third.closed()
            honest = await connect_from(demo, HONEST_ADDRESS)
            honest_in = await login(honest, "beta-kiosk")
            first_in = await login(first, "alpha-kiosk")
            refused = _metric(demo, 'interlend_sip2_connections_refused_total{cap="per_address"}')
            del second
    assert third_closed
    assert honest_in
    assert first_in
    assert refused == 1


async def test_connections_in_all_are_capped() -> None:
    """Past ``max_connections`` every new connection is closed at once, from any
    address, and one is let in again when a kiosk leaves."""
    with trio.fail_after(TIMEOUT):
        async with demo_with(max_connections=2) as demo:
            first = await connect_from(demo, "127.0.0.1")
            await connect_from(demo, HONEST_ADDRESS)
            over = await connect_from(demo, "127.0.0.3")
            over_closed = await over.closed()
            await first.aclose()
            # The gateway notices a kiosk's departure only when it reads the close.
            await eventually(
                lambda: demo.gateway.kiosks.open_connections == 1, what="the kiosk's departure"
            )
            again = await connect_from(demo, "127.0.0.3")
            again_in = await login(again, "alpha-kiosk")
    assert over_closed
    assert again_in


async def test_a_connection_that_does_not_log_in_is_closed_early() -> None:
    """``login_timeout_s`` closes a connection that has not logged in; a logged-in kiosk
    is kept for ``idle_timeout_s``."""
    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        async with demo_with(login_timeout_s=0.3) as demo:
            kiosk = await connect_from(demo, HONEST_ADDRESS)
            assert await login(kiosk, "beta-kiosk")
            silent = await connect_from(demo, "127.0.0.1")
            assert await silent.closed()
            still = await kiosk.expect(ScStatus(max_print_width=0), AcsStatus)
    assert still.online_status is True
    [gone] = [e for e in logs if e["event"] == "kiosk disconnected" and e["terminal"] is None]
    assert gone["why"] == "no login in time"


def _limit_fds(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def test_running_out_of_descriptors_keeps_healthz_and_the_log_quiet(tmp_path: Path) -> None:
    """A demo whose process may open only 512 files, flooded with 700 kiosk
    connections from one address: the kiosks are capped (256 per address, 448 in all
    below that limit), ``/healthz`` answers all along, and the log holds no traceback
    and no line per refused connection."""
    manifest_path = tmp_path / "manifest.json"
    process = start_cli(
        "demo", "--sip2-port", "0", "--admin-port", "0", "--manifest", str(manifest_path),
        preexec_fn=lambda: _limit_fds(512),
    )  # fmt: skip
    sockets: list[socket.socket] = []
    try:
        manifest = read_manifest(manifest_path, process, timeout=TIMEOUT)
        host, port = manifest["sip2"]["host"], manifest["sip2"]["port"]
        sockets.extend(socket.create_connection((host, port), timeout=10) for _ in range(700))
        admin = manifest["admin"]["url"]
        health = httpx.get(f"{admin}/healthz", timeout=10)

        def all_over_the_cap_refused() -> bool:
            return _refused(httpx.get(f"{admin}/metrics", timeout=10).text) >= 700 - 256

        # The kernel holds connections the gateway has not accepted yet: wait for them.
        eventually_blocking(
            all_over_the_cap_refused, timeout=TIMEOUT, what="every connection over the cap"
        )
        healthy_after = httpx.get(f"{admin}/healthz", timeout=10)
    finally:
        for sock in sockets:
            sock.close()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=TIMEOUT)
    assert health.status_code == 200
    assert healthy_after.status_code == 200
    assert "Traceback" not in err
    events = [json.loads(line).get("event") for line in err.splitlines()]
    assert any(str(e).startswith("kiosk connections capped below") for e in events)
    # One line per accepted kiosk coming and going; none per refused one.
    others = [e for e in events if e not in ("kiosk connected", "kiosk disconnected")]
    assert len(others) < 60, others
    assert events.count("kiosk connection refused") <= 2


def _refused(metrics: str) -> float:
    """Connections refused for either cap (all come from one address here)."""
    prefix = "interlend_sip2_connections_refused_total{"
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(prefix)
    )


class _ExhaustedListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose ``accept`` fails with EMFILE ``failures`` times, then gives one
    stream: the fault a test process cannot safely cause in itself."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.given = trio.Event()

    async def accept(self) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        if self.given.is_set():
            await trio.sleep_forever()  # nothing more to accept: the fake listener idles
        self.given.set()
        stream, _ = trio.testing.memory_stream_pair()
        return stream

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_accept_backs_off_and_logs_rarely_when_out_of_descriptors(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Out of descriptors, the accept loop waits and retries, logging one line per ten
    seconds with the number of failures (not a traceback per failure); the connection
    is served once a descriptor is free."""
    metrics = Metrics()
    listener = _ExhaustedListener(failures=250)  # 25 s of back-off
    served = trio.Event()

    async def handler(stream: trio.abc.Stream) -> None:
        served.set()

    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_connections, listener, handler, nursery, metrics)
            await served.wait()
            nursery.cancel_scope.cancel()
    lines = [e for e in logs if e["event"] == "kiosk connections cannot be accepted"]
    counted = [e["failures"] for e in lines]
    assert len(counted) == 3  # at 0 s, about 10 s and about 20 s
    assert counted[0] == 1
    assert all(99 <= n <= 101 for n in counted[1:])
    assert all(e["error"] == "EMFILE" for e in lines)
    assert b"interlend_sip2_accept_errors_total 250.0" in metrics.render()


def _short_fields(config: Config) -> Config:
    config = circulation_demo(config)
    [listener] = config.gateway.sip2
    dialect = listener.dialect.model_copy(update={"max_field_length": 20})
    gateway = config.gateway.model_copy(
        update={"sip2": (listener.model_copy(update={"dialect": dialect}),)}
    )
    return config.model_copy(update={"gateway": gateway})


async def test_an_answer_that_cannot_be_written_for_the_kiosk_does_not_end_the_gateway() -> None:
    """A listener whose kiosks take fields of 20 characters at most, and a request whose
    card number is longer: the refusal cannot echo it, so a bare one (no identifiers) is
    sent; the gateway serves the next kiosk."""
    status = b"2300120261123    120000AOalpha|AA" + b"2" * 30 + b"|AC|AD1234|\r"
    with trio.fail_after(TIMEOUT):
        async with running_demo(_short_fields) as running:
            kiosk = await connect_from(running, "127.0.0.1")
            assert await login(kiosk, "alpha-kiosk")
            answer = await kiosk.raw(status)
            other = await connect_from(running, HONEST_ADDRESS)
            served = await login(other, "beta-kiosk")
    assert answer.startswith(b"24")
    assert b"2" * 30 not in answer
    assert served


async def test_an_address_closed_for_bad_frames_cools_down(
    frozen_clock: trio.testing.MockClock,
) -> None:
    """After a connection is closed for bad frames, new connections from its address
    are closed at once for ``bad_frames_cool_down_s`` (counted), others are not, and
    the address is let in again afterwards.

    Trio time is the test's: the cool-down ends when the test moves the clock past it.
    """
    with trio.fail_after(TIMEOUT):
        async with demo_with(max_bad_frames_before_login=1, bad_frames_cool_down_s=10) as demo:
            abuser = await connect_from(demo, "127.0.0.1")
            await abuser.stream.send_all(BAD_CHECKSUM * 10)
            await _frames_until_closed(abuser)
            frozen_clock.jump(9)
            again = await connect_from(demo, "127.0.0.1")
            again_closed = await again.closed()
            honest = await connect_from(demo, HONEST_ADDRESS)
            honest_in = await login(honest, "beta-kiosk")
            cooled = _metric(demo, 'interlend_sip2_connections_refused_total{cap="cool_down"}')
            frozen_clock.jump(2)
            later = await connect_from(demo, "127.0.0.1")
            later_in = await login(later, "alpha-kiosk")
    assert again_closed
    assert honest_in
    assert cooled == 1
    assert later_in
