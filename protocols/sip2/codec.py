"""Frame codec: one SIP2 frame as bytes ⇄ one typed ``Message``.

``encode`` writes a message as the bytes of a whole frame (fixed fields, identified
fields, optional ``AY``/``AZ`` trailer, terminator); its two halves, ``encode_body``
and ``finish_frame``, let a request be written before its sequence number is known.
``decode`` reads one frame, with or without its terminator, checks the trailer, and
returns the message with its sequence number and checksum.

Rules:

* ``decode`` raises only ``RemoteProtocolError``, whatever the bytes.
* ``encode`` and its halves raise only ``LocalProtocolError`` (the message cannot be
  written as it is: a value with the delimiter or a CR in it, a character the charset
  lacks, a value too long for the dialect), naming the field.
* The checksum is over the encoded bytes, so it is right in every charset.
* Fields the layout does not name are kept in ``Message.extensions`` and written back
  after the named fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from .checksum import checksum, checksum_ok
from .dialect import DEFAULT_DIALECT, Dialect
from .errors import FrameError, LocalProtocolError, RemoteProtocolError
from .spec import Message, MessageSpec, VariableField
from .writer import writer_for

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DecodedFrame",
    "changed",
    "decode",
    "encode",
    "encode_body",
    "finish_frame",
    "split_trailer",
]

M = TypeVar("M", bound=Message)

_RESEND_CODES = frozenset({"96", "97"})
READ_KEY = "_read"
"""Where a decoded message keeps the body it was read from and the dialect it was read
in: a key of its ``__dict__`` that no field can have.  A changed copy of the message
must not carry it (``dataclasses.replace`` does not; a copy of the ``__dict__`` must
drop it)."""
_STRICT_TRAILER = re.compile(rb"(?:AY([0-9]))?AZ([0-9A-F]{4})\Z")
_LENIENT_TRAILER = re.compile(rb"(?:AY([0-9]))?AZ([0-9A-Fa-f]{1,4})\Z")
_STRICT_HEX = b"0123456789ABCDEF"
_LENIENT_HEX = b"0123456789ABCDEFabcdef"


class _Build(Protocol):
    def __call__(self, **values: object) -> Message: ...


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """A decoded frame: the message and its error-detection trailer, if any.

    Attributes:
        message: The typed message.
        sequence: The ``AY`` digit, or ``None``.
        checksum: The ``AZ`` hex digits as sent, or ``None`` when there was no trailer.
    """

    message: Message
    sequence: int | None
    checksum: str | None


def _writes_alike(read: Dialect, body: bytes, target: Dialect) -> bool:
    """Whether ``body``, read in ``read``, is one ``target`` takes as written: the same
    characters, delimiter and dates, and no field over ``target``'s length limit (none
    can be when the whole body is shorter; a lenient reading checks none).  The
    terminator and the trailer are not in it."""
    limit = target.max_field_length
    return (
        read.charset is target.charset
        and read.field_delimiter == target.field_delimiter
        and read.timezone == target.timezone
        and read.utc_dates == target.utc_dates
        and (
            limit is None
            or len(body) <= limit
            or (
                read.strict and read.max_field_length is not None and read.max_field_length <= limit
            )
        )
    )


def changed(message: M, values: Mapping[str, object]) -> M:
    """A copy of ``message`` with ``values`` (field names the message has) changed.

    What ``dataclasses.replace`` makes, at a fraction of its cost: a message's state is
    its ``__dict__`` of fields, set in one step by its ``__init__`` and checked by
    nothing.  The copy is a new message: it does not keep the body ``message`` was read
    from (``encode_body``'s ``as_read``).
    """
    state = {**message.__dict__, **values}
    state.pop(READ_KEY, None)
    copy = object.__new__(type(message))
    object.__setattr__(copy, "__dict__", state)
    return copy


def split_trailer(body: bytes, dialect: Dialect) -> tuple[bytes, int | None, bytes | None, int]:
    """Find the ``AY``/``AZ`` trailer at the end of a frame body.

    Args:
        body: The frame without its terminator.
        dialect: The peer's dialect (lenient parsing accepts 1-4 hex digits in any case).

    Returns:
        ``(payload, sequence, checksum digits, end of "AZ")``; ``checksum`` is ``None``
        when there is no trailer, and the payload is then the whole body.
    """
    end = len(body)
    if (
        end >= 6
        and body[end - 6 : end - 4] == b"AZ"
        and not body[end - 4 :].translate(None, _STRICT_HEX if dialect.strict else _LENIENT_HEX)
    ):
        # What peers send: AZ and four hex digits, mostly after AY and a digit.  The
        # pattern below finds the same trailer (it cannot start anywhere else), slower.
        if end >= 9 and body[end - 9 : end - 7] == b"AY" and 0x30 <= body[end - 7] <= 0x39:
            return body[: end - 9], body[end - 7] - 0x30, body[end - 4 :], end - 4
        return body[: end - 6], None, body[end - 4 :], end - 4
    pattern = _STRICT_TRAILER if dialect.strict else _LENIENT_TRAILER
    found = pattern.search(body, max(0, end - 9))
    if found is None:
        return body, None, None, len(body)
    sequence = found.group(1)
    return (
        body[: found.start()],
        int(sequence) if sequence is not None else None,
        found.group(2),
        found.start(2),
    )


def decode(
    frame: bytes, dialect: Dialect = DEFAULT_DIALECT, *, verify: bool = True
) -> DecodedFrame:
    """Decode one frame.

    Args:
        frame: The frame's bytes; a trailing CR or CRLF is allowed.
        dialect: The sender's dialect.
        verify: Check the ``AZ`` checksum when there is one.

    Returns:
        The message with its sequence number and checksum.

    Raises:
        RemoteProtocolError: The bytes are not an acceptable frame; ``reason`` and
            ``response_hint`` say why and what to answer.
    """
    body = frame[:-2] if frame.endswith(b"\r\n") else frame[:-1] if frame.endswith(b"\r") else frame
    if b"\r" in body or b"\x00" in body:
        raise RemoteProtocolError(
            "frame contains a CR or NUL byte", reason=FrameError.FORBIDDEN_BYTE
        )
    payload, sequence, digits, az_end = split_trailer(body, dialect)
    if digits is not None and verify and not checksum_ok(body[:az_end], digits):
        raise RemoteProtocolError("checksum does not match", reason=FrameError.BAD_CHECKSUM)
    try:
        # Every supported charset is ASCII below 0x80, and the table-driven ones (cp850)
        # are slow in Python: most frames are ASCII, decoded as such.
        text = payload.decode("ascii") if payload.isascii() else payload.decode(dialect.codec)
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(
            f"frame is not valid {dialect.codec} (byte {exc.start})",
            reason=FrameError.UNDECODABLE,
        ) from None
    code = text[:2]
    cls = Message.registry.get(code)
    if cls is None:
        raise RemoteProtocolError(
            f"unknown command {code!r}" if len(code) == 2 else "frame too short for a command",
            reason=FrameError.UNKNOWN_COMMAND if len(code) == 2 else FrameError.MALFORMED,
        )
    message = _parse(cls, text, dialect)
    message.__dict__[READ_KEY] = (dialect, payload if type(payload) is bytes else bytes(payload))
    return DecodedFrame(message, sequence, digits.decode("ascii") if digits is not None else None)


def _malformed(spec: MessageSpec, what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"{spec.code} {spec.name}: {what}", reason=FrameError.MALFORMED)


def _parse(cls: type[Message], text: str, dialect: Dialect) -> Message:
    spec = cls.spec
    strict = dialect.strict
    end = 2 + spec.fixed_length
    if len(text) < end:
        raise _malformed(spec, f"fixed part has {len(text) - 2} of {spec.fixed_length} characters")
    values: dict[str, object] = {}
    for f in spec.fixed:
        start = 2 + f.offset
        try:
            values[f.name] = f.kind.decode(text[start : start + f.width], dialect)
        except ValueError as exc:
            raise _malformed(spec, f"{f.name}: {exc}") from None
    extensions: list[tuple[str, str]] = []
    repeats: dict[str, list[object]] = {}
    if len(text) > end:
        pieces = text[end:].split(dialect.field_delimiter)
        last = pieces.pop()
        if last:
            if strict:
                raise _malformed(spec, "last field has no delimiter")
            pieces.append(last)
        by_id = spec.by_id
        limit = dialect.max_field_length if strict else None
        for piece in pieces:
            field_id = piece[:2]
            raw = piece[2:]  # empty for a piece shorter than an identifier
            if limit is not None and len(raw) > limit:
                raise _malformed(spec, f"{field_id} is longer than {limit} characters")
            field = by_id.get(field_id)
            if field is None:
                # Not a field of the layout: a vendor field, or no field at all (a piece
                # shorter than an identifier is never a layout id, so it lands here).
                if len(piece) < 2:
                    if piece or strict:
                        raise _malformed(spec, f"field {piece!r} has no identifier")
                    continue  # an empty field between two delimiters
                extensions.append((field_id, raw))
                continue
            if field.repeatable:
                value = raw if field.kind.text else _value(spec, field, raw, dialect)
                repeats.setdefault(field.name, []).append(value)
            elif field.name in values:
                if strict:
                    raise _malformed(spec, f"{field_id} occurs twice")
                extensions.append((field_id, raw))
            elif field.kind.text:
                values[field.name] = raw
            elif raw or strict:
                values[field.name] = _value(spec, field, raw, dialect)
    for name, items in repeats.items():
        values[name] = tuple(items)
    for field in spec.required:
        if field.name not in values:
            if strict or not field.kind.text:
                raise _malformed(spec, f"required field {field.field_id} is missing")
            values[field.name] = ""
    if extensions:
        values["extensions"] = tuple(extensions)
    # The keywords come from the class's own layout, so they match its __init__.
    return cast("_Build", cls)(**values)


def _value(spec: MessageSpec, field: VariableField, raw: str, dialect: Dialect) -> object:
    try:
        return field.kind.decode(raw, dialect)
    except ValueError as exc:
        raise _malformed(spec, f"{field.field_id}: {exc}") from None


def encode(
    message: Message,
    dialect: Dialect = DEFAULT_DIALECT,
    *,
    sequence: int | None = None,
    error_detection: bool = False,
    as_read: bool = False,
) -> bytes:
    """Encode a message as one whole frame, terminator included.

    Args:
        message: The message.
        dialect: The receiver's dialect.
        sequence: The ``AY`` digit (0-9); required with ``error_detection`` except for
            the resend requests 96 and 97, which never carry one.
        error_detection: Append the ``AY``/``AZ`` trailer.
        as_read: See ``encode_body``.

    Raises:
        LocalProtocolError: The message cannot be written in this dialect.
    """
    return finish_frame(
        message.code,
        encode_body(message, dialect, as_read=as_read),
        dialect,
        sequence=sequence,
        error_detection=error_detection,
    )


def encode_body(
    message: Message, dialect: Dialect = DEFAULT_DIALECT, *, as_read: bool = False
) -> bytes:
    """Encode a message's body: the frame without its trailer and terminator.

    The body does not depend on the sequence number, so a request can be written once
    before the connection that sends it is chosen (``finish_frame`` completes it).

    Writing a decoded message again normally repairs what a lenient reading let pass
    (an unpadded count, a missing last delimiter): the body is the codec's own.  With
    ``as_read``, a message ``decode`` made and nothing changed since, written in a
    dialect that writes as the one it was read in does (the same characters,
    delimiter and dates, no length limit the reading did not check), is the body it
    was read from, as its sender wrote it.

    Raises:
        LocalProtocolError: The message cannot be written in this dialect.
    """
    if as_read:
        read: tuple[Dialect, bytes] | None = message.__dict__.get(READ_KEY)
        if read is not None and (read[0] is dialect or _writes_alike(read[0], read[1], dialect)):
            return read[1]
    spec = message.spec
    # The fixed part and the identified fields, written by the class's compiled writer
    # from the instance's own dict (see ``writer``).
    parts, fields, head_length = writer_for(type(message))(message.__dict__, dialect)
    delimiter = dialect.field_delimiter
    for field_id, text in message.extensions:
        if not isinstance(field_id, str) or len(field_id) != 2 or not isinstance(text, str):
            raise LocalProtocolError(f"{spec.code}: extension {field_id!r} is not an ID and text")
        parts += (field_id, text, delimiter)
        fields += 1
    written = "".join(parts)
    try:
        # As in decode: ASCII text is the same bytes in every supported charset.
        data = (
            written.encode("ascii")
            if written.isascii()
            else written.encode(dialect.codec, dialect.encode_errors)
        )
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(
            f"{spec.code} {spec.name}: {exc.object[exc.start : exc.end]!r} cannot be written "
            f"in {dialect.codec}"
        ) from None
    if (
        b"\r" in data
        or b"\x00" in data
        or data.count(dialect.delimiter_bytes, head_length) != fields
    ):
        raise LocalProtocolError(
            f"{spec.code} {spec.name}: a value contains CR, NUL or the delimiter {delimiter!r}"
        )
    return data


def finish_frame(
    code: str,
    body: bytes,
    dialect: Dialect = DEFAULT_DIALECT,
    *,
    sequence: int | None = None,
    error_detection: bool = False,
) -> bytes:
    """Complete the body of a ``code`` message (from ``encode_body``) into a frame: the
    trailer, when asked for, and the terminator.

    Raises:
        LocalProtocolError: The sequence number does not suit ``error_detection``.
    """
    if error_detection:
        if code in _RESEND_CODES:
            body += b"AZ"
        elif sequence is None or not 0 <= sequence <= 9:
            raise LocalProtocolError(f"error detection needs a sequence 0-9, got {sequence!r}")
        else:
            body += b"AY%dAZ" % sequence
        body += checksum(body)
    elif sequence is not None:
        raise LocalProtocolError("a sequence number is only sent with error detection")
    return body + dialect.terminator.value
