"""Rendering SIP2 frames for logs without passwords or PINs.

The values of AC (terminal password), AD (patron PIN) and CO (login password) are
replaced by ``***``; an empty value stays empty, because "the kiosk sent no PIN" is
worth seeing and reveals nothing.  The length of a secret is not shown.

A frame that parses is masked field by field.  Anything else (a truncated frame, an
unknown command, bytes in the wrong charset) is masked conservatively: every run of
characters that starts with one of the three identifiers is masked up to the next
delimiter, which may hide a little too much but never too little.
"""

from __future__ import annotations

import re

from .dialect import DEFAULT_DIALECT, Dialect
from .spec import SECRET_FIELD_IDS, Message

__all__ = ["redact_frame"]

_MASK = "***"
_CONSERVATIVE: dict[str, re.Pattern[str]] = {}


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _mask_piece(piece: str) -> str:
    if piece[:2] in SECRET_FIELD_IDS and len(piece) > 2:
        return piece[:2] + _MASK
    return piece


def redact_frame(frame: bytes | str, dialect: Dialect = DEFAULT_DIALECT) -> str:
    """Return the frame as log-safe text with AC, AD and CO values masked.

    Args:
        frame: The raw frame (bytes as received, or text); a terminator is dropped.
        dialect: The sender's dialect, for its charset and delimiter.
    """
    text = frame.decode(dialect.codec, "replace") if isinstance(frame, bytes) else frame
    text = text.rstrip("\r\n")
    delimiter = dialect.field_delimiter
    cls = Message.registry.get(text[:2])
    start = 2 + cls.spec.fixed_length if cls is not None else -1
    if cls is not None and len(text) >= start:
        pieces = text[start:].split(delimiter)
        masked = text[:start] + delimiter.join(_mask_piece(p) for p in pieces)
    else:
        pattern = _CONSERVATIVE.get(delimiter)
        if pattern is None:
            ids = "|".join(sorted(SECRET_FIELD_IDS))
            pattern = re.compile(f"({ids})[^{re.escape(delimiter)}\r]+")
            _CONSERVATIVE[delimiter] = pattern
        masked = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return _printable(masked)
