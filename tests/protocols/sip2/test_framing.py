"""The frame buffer splits a byte stream into frames, with bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.sip2 import FrameBuffer, FrameError, RemoteProtocolError

OVERSIZED = FrameError.OVERSIZED.value


def frames(chunks: list[bytes], max_frame_size: int = 64) -> tuple[list[bytes | str], int]:
    """Feed chunks; return the frames (and 'oversized' marks) and the most bytes held."""
    buffer = FrameBuffer(max_frame_size)
    out: list[bytes | str] = []
    held = 0
    for chunk in chunks:
        buffer.feed(chunk)
        held = max(held, len(buffer))
        while True:
            try:
                frame = buffer.next_frame()
            except RemoteProtocolError as exc:
                out.append(exc.reason.value)  # compared with OVERSIZED by the tests
                continue
            if frame is None:
                break
            out.append(frame)
        held = max(held, len(buffer))
    return out, held


def test_cr_crlf_stray_lf_and_blank_lines() -> None:
    """CR ends a frame; the LF of CRLF, stray LFs and empty lines are dropped."""
    stream = b"9900302.00\r\n\n\n23001\r\r\r\n97\r"
    assert frames([stream])[0] == [b"9900302.00", b"23001", b"97"]


def test_incomplete_frame_waits() -> None:
    """Bytes without a CR stay in the buffer until the CR comes."""
    buffer = FrameBuffer()
    buffer.feed(b"9900")
    assert buffer.next_frame() is None
    buffer.feed(b"302.00")
    assert buffer.next_frame() is None
    assert len(buffer) == 10
    buffer.feed(b"\r")
    assert buffer.next_frame() == b"9900302.00"
    assert len(buffer) == 0


def test_an_oversized_frame_is_reported_once_and_skipped() -> None:
    """A frame over the limit is refused and the stream resumes after its CR."""
    stream = b"97\r" + b"x" * 100 + b"\r99\r"
    assert frames([stream], 64)[0] == [b"97", OVERSIZED, b"99"]


def test_a_frame_of_exactly_the_limit_is_accepted() -> None:
    """The limit counts the frame without its terminator."""
    assert frames([b"y" * 64 + b"\r"], 64)[0] == [b"y" * 64]
    assert frames([b"y" * 65 + b"\r"], 64)[0] == [OVERSIZED]


def test_endless_input_without_cr_costs_bounded_memory() -> None:
    """A peer that never sends CR is reported once; its bytes are thrown away."""
    chunks = [b"z" * 1000] * 200
    out, held = frames(chunks, 4096)
    assert out == [OVERSIZED]
    assert held <= 4096 + 1000


def test_limit_must_leave_room_for_a_command() -> None:
    """A maximum frame size below 2 bytes is a programming error."""
    with pytest.raises(ValueError, match="at least"):
        FrameBuffer(1)


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.sampled_from([b"\r", b"\n", b"\r\n", b"97", b"9900302.00"]),
        ),
        max_size=40,
    )
)
def test_byte_at_a_time_equals_whole(pieces: list[bytes]) -> None:
    """Whatever the bytes, feeding them one at a time gives the same frames as whole."""
    stream = b"".join(pieces)
    whole, _ = frames([stream])
    one_by_one, held = frames([bytes([b]) for b in stream])
    assert one_by_one == whole
    assert held <= 64 + 1
    for frame in whole:
        if isinstance(frame, bytes):
            assert b"\r" not in frame
            assert not frame.startswith(b"\n")
