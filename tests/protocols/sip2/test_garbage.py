"""Arbitrary bytes never break the codec: decode raises only RemoteProtocolError, and
connections turn anything into events, the same whether bytes come whole or singly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.sip2 import (
    NEED_DATA,
    PAUSED,
    AcsConnection,
    AcsState,
    ConnectionFailed,
    Dialect,
    ErrorDetection,
    Event,
    Message,
    MessageReceived,
    Pending,
    RemoteProtocolError,
    ScConnection,
    ScState,
    decode,
    encode,
)
from protocols.sip2.samples import sample, sample_messages

from .strategies import dialects

VALID_FRAMES = [
    encode(m, sequence=3 if ed else None, error_detection=ed)
    for m in sample_messages()
    for ed in (False, True)
]


def mutated_frames() -> st.SearchStrategy[bytes]:
    """Valid frames with bytes flipped, cut, repeated or inserted: garbage near the paths."""

    def mutate(frame: bytes, edits: list[tuple[int, int]]) -> bytes:
        data = bytearray(frame)
        for position, value in edits:
            if not data:
                break
            index = position % len(data)
            match value % 4:
                case 0:
                    data[index] = value % 256
                case 1:
                    del data[index:]
                case 2:
                    data[index:index] = bytes([value % 256])
                case _:
                    data[index:index] = data[index : index + 8]
        return bytes(data)

    return st.builds(
        mutate,
        st.sampled_from(VALID_FRAMES),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), max_size=4),
    )


garbage = st.one_of(st.binary(max_size=300), mutated_frames())


@given(garbage, dialects())
def test_decode_raises_only_remote_protocol_errors(data: bytes, dialect: Dialect) -> None:
    """decode() either returns a message or raises RemoteProtocolError (anything else
    escapes and fails the test)."""
    try:
        decoded = decode(data, dialect)
    except RemoteProtocolError:
        return
    assert data[:2] == decoded.message.code.encode()


def canon(event: object) -> object:
    """Events as comparable values (exceptions compare by identity)."""
    error = getattr(event, "error", None)
    if isinstance(error, RemoteProtocolError):
        return (type(event).__name__, getattr(event, "data", None), error.reason, str(error))
    return event


def drain_acs(conn: AcsConnection) -> list[object]:
    """Read every event, answering requests so that the connection keeps going."""
    out: list[object] = []
    while True:
        event: Event | Pending = conn.next_event()
        if event is NEED_DATA:
            return out
        assert event is not PAUSED
        out.append(canon(event))
        if isinstance(event, MessageReceived):
            code = event.message.code
            reply_code = {"93": "94", "99": "98"}.get(code, "96")
            answer: Message = sample(reply_code)
            out.append(conn.send(answer))
        elif isinstance(event, ConnectionFailed):
            return out


def run_acs(chunks: list[bytes], mode: ErrorDetection) -> list[object]:
    conn = AcsConnection(error_detection=mode, max_frame_size=512)
    out: list[object] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        out.extend(drain_acs(conn))
        if conn.state is AcsState.CLOSED:
            break
    return out


streams = st.lists(st.one_of(garbage, st.sampled_from(VALID_FRAMES)), max_size=8).map(b"".join)


@settings(max_examples=200)
@given(streams, st.sampled_from(list(ErrorDetection)))
def test_acs_connection_survives_any_stream(stream: bytes, mode: ErrorDetection) -> None:
    """Any byte stream gives events (never an exception), identically one byte at a time."""
    whole = run_acs([stream], mode)
    assert run_acs([bytes([b]) for b in stream], mode) == whole


def run_sc(chunks: list[bytes], mode: ErrorDetection) -> list[object]:
    conn = ScConnection(error_detection=mode, max_retries=1_000, max_frame_size=512)
    out: list[object] = [conn.send(sample_messages()[6])]
    for chunk in chunks:
        conn.receive_data(chunk)
        while conn.state is not ScState.FAILED:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            out.append(canon(event))
    return out


@settings(max_examples=200)
@given(streams, st.sampled_from(list(ErrorDetection)))
def test_sc_connection_survives_any_stream(stream: bytes, mode: ErrorDetection) -> None:
    """The SC side turns any answer stream into events, whole or byte by byte."""
    whole = run_sc([stream], mode)
    assert run_sc([bytes([b]) for b in stream], mode) == whole
