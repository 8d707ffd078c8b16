"""Logs are structured JSON off a terminal and never carry a PIN or password."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pytest
import structlog

from gateway.telemetry import logs
from gateway.telemetry.logs import (
    LineSampler,
    bind_process_fields,
    configure_logging,
    hot_line,
    redact_secrets,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """Put structlog back as it was, so other tests' log captures see every level."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def log_line(**fields: object) -> dict[str, object]:
    """Log one event through the real configuration and parse what was written."""
    out = io.StringIO()
    configure_logging(stream=out)
    structlog.get_logger("test").info("event", **fields)
    line = out.getvalue().strip()
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


def test_json_with_level_and_utc_timestamp() -> None:
    """Off a terminal each line is one JSON object with event, level and timestamp."""
    line = log_line(route="pass-through")
    assert line["event"] == "event"
    assert line["level"] == "info"
    assert str(line["timestamp"]).endswith("Z")
    assert line["route"] == "pass-through"


def test_secret_keys_are_masked_at_any_depth() -> None:
    """pin, password, token and the SIP2 field names are masked, nested or not."""
    line = log_line(
        pin="1234",
        AD="1234",
        member={"login_password": "s3cret", "name": "beta"},
        peers=[{"api_key": "k-123"}],
        empty_pin="",
        password="",
    )
    text = json.dumps(line)
    for secret in ("1234", "s3cret", "k-123"):
        assert secret not in text
    assert line["pin"] == "***"
    assert line["member"] == {"login_password": "***", "name": "beta"}
    assert line["password"] == ""


def test_sip2_frames_are_masked() -> None:
    """Raw frames under frame/request/response keys have AC, AD and CO masked."""
    line = log_line(
        frame=b"2300120261122    235513AObeta|AA21001|AC|AD1234|AY1AZF00D\r",
        response="9300CNkiosk|COdemo|",
    )
    assert line["frame"] == "2300120261122    235513AObeta|AA21001|AC|AD***|AY1AZF00D"
    assert line["response"] == "9300CNkiosk|CO***|"


def test_ncip_authentication_input_is_masked() -> None:
    """The content of NCIP AuthenticationInputData is masked, prefixed or not."""
    xml = (
        "<ns1:AuthenticationInput><ns1:AuthenticationInputData>1234"
        "</ns1:AuthenticationInputData></ns1:AuthenticationInput>"
        "<AuthenticationInputData>pw</AuthenticationInputData>"
    )
    line = log_line(body=xml.encode(), xml=xml)
    for key in ("body", "xml"):
        assert "1234" not in str(line[key])
        assert ">pw<" not in str(line[key])
        assert "<ns1:AuthenticationInputData>***</ns1:AuthenticationInputData>" in str(line[key])


def test_other_bytes_become_text() -> None:
    """Bytes under other keys are rendered as text, so JSON output never fails."""
    assert log_line(peer=b"\xffabc")["peer"] == "\\xffabc"


def test_console_output_on_request() -> None:
    """With json=False the console renderer is used (what a terminal gets)."""
    out = io.StringIO()
    configure_logging(stream=out, json=False)
    structlog.get_logger().info("hello", pin="1234")
    text = out.getvalue()
    assert "hello" in text
    assert "1234" not in text


def test_level_filtering() -> None:
    """Events below the configured level are not written."""
    out = io.StringIO()
    configure_logging(stream=out, level="warning")
    structlog.get_logger().info("quiet")
    structlog.get_logger().warning("loud")
    assert "quiet" not in out.getvalue()
    assert "loud" in out.getvalue()


def test_processor_can_be_used_alone() -> None:
    """redact_secrets is an ordinary structlog processor."""
    event = redact_secrets(None, "info", {"event": "x", "token": "abc"})
    assert event == {"event": "x", "token": "***"}


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_hot_line_is_the_line_logger_info_writes() -> None:
    """hot_line writes the same JSON object as ``info`` (masking included), only cheaper."""
    out = io.StringIO()
    configure_logging(stream=out)
    log = structlog.get_logger("test")
    fields = {"conn": "c1", "code": "23", "latency_ms": 0.41, "reason": None, "pin": "1234"}
    log.info("request", **fields)
    hot_line(log, "request", **fields)
    slow, fast = _lines(out)
    assert str(slow.pop("timestamp")) <= str(fast.pop("timestamp"))
    assert fast == slow
    assert fast["pin"] == "***"
    assert fast["level"] == "info"


def test_a_hot_line_honours_the_level_and_a_capture() -> None:
    """Above ``info`` nothing is written; under a test's capture the capture gets it."""
    out = io.StringIO()
    configure_logging(stream=out, level="warning")
    hot_line(structlog.get_logger("test"), "request", conn="c1")
    assert out.getvalue() == ""
    configure_logging(stream=out)
    with structlog.testing.capture_logs() as captured:
        hot_line(structlog.get_logger("test"), "request", conn="c2")
    assert out.getvalue() == ""
    assert captured == [{"event": "request", "conn": "c2", "log_level": "info"}]


def test_process_fields_are_on_every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's number, bound once, is on structlog's lines and on the hot ones."""
    monkeypatch.setattr(logs, "_PROCESS_FIELDS", {})
    out = io.StringIO()
    configure_logging(stream=out)
    bind_process_fields(worker=2)
    log = structlog.get_logger("test")
    log.warning("slow", worker=7)
    hot_line(log, "request")
    explicit, bound = _lines(out)
    assert explicit["worker"] == 7  # a field given with the event wins
    assert bound["worker"] == 2
    assert explicit["level"] == "warning"


def test_time_stamps_are_utc_with_microseconds() -> None:
    """The stamp reads back as the time it was written, to the microsecond, in UTC."""
    from datetime import UTC, datetime

    out = io.StringIO()
    configure_logging(stream=out)
    before = datetime.now(UTC)
    hot_line(structlog.get_logger("test"), "request")
    after = datetime.now(UTC)
    stamp = str(_lines(out)[0]["timestamp"])
    assert stamp.endswith("Z")
    assert before <= datetime.fromisoformat(stamp) <= after


def test_a_hot_line_with_an_exception_or_odd_values_is_the_chains_line() -> None:
    """An exception is formatted and a nested secret masked, as ``info`` does them."""
    out = io.StringIO()
    configure_logging(stream=out)
    log = structlog.get_logger("test")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        error = exc
    fields = {
        "exc_info": error,
        "member": {"password": "s3cret"},
        "frame": b"2300120261122    235513AOalpha|AA21001|AD1234|",
    }
    log.info("request", **fields)
    hot_line(log, "request", **fields)
    slow, fast = _lines(out)
    assert str(slow.pop("timestamp")) <= str(fast.pop("timestamp"))
    assert fast == slow
    assert "ValueError: boom" in str(fast["exception"])
    assert fast["member"] == {"password": "***"}
    assert "1234" not in json.dumps(fast)


class TestLineSampler:
    """Sampled log lines: their count per key, and the keys remembered bounded."""

    def test_lines_over_the_window_are_counted_on_the_next_one_logged(self) -> None:
        sampler = LineSampler(10.0)
        admitted = [sampler.admit("10.0.0.1", 2, now=float(n)) for n in range(5)]
        assert admitted == [0, 0, None, None, None]
        assert sampler.admit("10.0.0.1", 2, now=10.0) == 3

    def test_more_keys_than_remembered_in_one_window_keep_it_bounded(self) -> None:
        sampler = LineSampler(10.0)
        sizes = set()
        for n in range(3 * LineSampler.REMEMBERED):
            assert sampler.admit(f"key-{n}", 1, now=0.5) == 0
            sizes.add(len(sampler))
        assert max(sizes) == LineSampler.REMEMBERED
        # The newest keys are the ones kept: a second line of the last one is sampled.
        assert sampler.admit(f"key-{3 * LineSampler.REMEMBERED - 1}", 1, now=0.5) is None

    def test_ended_windows_are_forgotten_first(self) -> None:
        sampler = LineSampler(10.0)
        for n in range(LineSampler.REMEMBERED):
            sampler.admit(f"key-{n}", 1, now=0.0)
        sampler.admit("late", 1, now=20.0)
        assert len(sampler) == 1
