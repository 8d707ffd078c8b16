"""Rendering SIP2 frames for logs without passwords or PINs.

The values of AC (terminal password), AD (patron PIN) and CO (login password) are
replaced by ``***``; an empty value stays empty, because "the kiosk sent no PIN" is
worth seeing and reveals nothing.  The length of a secret is not shown.

Masking errs on the side of hiding too much, because a log line with a PIN in it
cannot be taken back:

* A frame that decodes keeps its fixed part (which validated field types cannot turn
  into a secret), and in its variable part a secret identifier is masked wherever a
  field could start: at the beginning, or after *any* ASCII punctuation, not only the
  dialect's delimiter, so that a peer using another delimiter than configured does
  not leak (``CNkiosk|COpw`` read with ``^`` as delimiter is still masked).
* Anything else (truncated, unknown command, wrong charset) is masked everywhere: any
  run of characters starting with AC, AD or CO is hidden up to the next delimiter.
"""

from __future__ import annotations

import re
import string

from .codec import decode
from .dialect import DEFAULT_DIALECT, Dialect
from .errors import RemoteProtocolError
from .spec import SECRET_FIELD_IDS

__all__ = ["redact_frame"]

_MASK = "***"
_IDS = "|".join(sorted(SECRET_FIELD_IDS))
_PUNCTUATION = re.escape(string.punctuation)
_PATTERNS: dict[tuple[str, bool], re.Pattern[str]] = {}


def _pattern(delimiter: str, anywhere: bool) -> re.Pattern[str]:
    key = (delimiter, anywhere)
    pattern = _PATTERNS.get(key)
    if pattern is None:
        start = "" if anywhere else f"(?:^|(?<=[{_PUNCTUATION}]))"
        pattern = re.compile(f"{start}({_IDS})([^{re.escape(delimiter)}\r]*)")
        _PATTERNS[key] = pattern
    return pattern


def _mask(match: re.Match[str]) -> str:
    return match.group(1) + (_MASK if match.group(2) else "")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def redact_frame(frame: bytes | str, dialect: Dialect = DEFAULT_DIALECT) -> str:
    """Return the frame as log-safe text with AC, AD and CO values masked.

    Args:
        frame: The raw frame (bytes as received, or text); a terminator is dropped.
        dialect: The sender's dialect, for its charset and delimiter.
    """
    if isinstance(frame, bytes):
        raw, text = frame, frame.decode(dialect.codec, "replace")
    else:
        raw, text = frame.encode(dialect.codec, "replace"), frame
    text = text.rstrip("\r\n")
    delimiter = dialect.field_delimiter
    try:
        decoded = decode(raw, dialect, verify=False)
    except RemoteProtocolError:
        masked = text[:2] + _pattern(delimiter, anywhere=True).sub(_mask, text[2:])
    else:
        start = 2 + decoded.message.spec.fixed_length
        masked = text[:start] + _pattern(delimiter, anywhere=False).sub(_mask, text[start:])
    return _printable(masked)
