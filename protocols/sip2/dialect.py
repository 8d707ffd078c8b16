"""Per-peer wire conventions: character set, delimiters, strictness, time zone.

SIP2 leaves much to "agreement between the SC and the ACS", and real peers disagree:
Koha ends frames with CRLF, FOLIO lets each tenant pick a charset, some clients send
blank dates where the standard wants a value.  A ``Dialect`` names those choices for
one peer so that the codec itself has no settings and no globals.

Rules kept here:

* Encoding never loses data silently.  A character the charset cannot carry is an
  error unless the dialect explicitly chose transliteration (``é`` → ``e``, ``ß`` →
  ``ss``; what has no Latin spelling becomes ``?``, and that too is the dialect's
  explicit choice).
* Parsing is ``strict`` (the 2.00 text as written) or lenient (what real peers send:
  numbers without zero padding, a last field without its ``|``, blank dates, lower-case
  flags, repeated or empty fields).  Lenient parsing still never drops a field.
"""

from __future__ import annotations

import codecs
import enum
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from .errors import LocalProtocolError

__all__ = [
    "DEFAULT_DIALECT",
    "Charset",
    "Dialect",
    "ErrorDetection",
    "Terminator",
    "Unencodable",
    "transliterate",
]


class Charset(enum.Enum):
    """Character sets seen on SIP2 links; the spec's default is code page 850."""

    CP850 = "cp850"
    LATIN1 = "latin-1"
    UTF8 = "utf-8"
    ASCII = "ascii"


class Terminator(enum.Enum):
    """What ends a frame we send.  Receiving accepts CR and CRLF either way."""

    CR = b"\r"
    CRLF = b"\r\n"


class Unencodable(enum.Enum):
    """What to do with a character the dialect's charset cannot carry."""

    ERROR = "error"
    TRANSLITERATE = "transliterate"


class ErrorDetection(enum.Enum):
    """The SIP2 "error detection" switch (``AY`` sequence and ``AZ`` checksum).

    ``OFF``: send no trailer; a trailer that arrives anyway is removed, not checked.
    ``AUTO``: check a trailer whenever one arrives; an ACS answers in the style of
    each request, an SC always sends one.
    ``REQUIRED``: every frame must carry a valid trailer; we always send one.
    """

    OFF = "off"
    AUTO = "auto"
    REQUIRED = "required"


# Letters that Unicode decomposition does not reduce to ASCII.
_LATIN_SPELLINGS = {
    "ß": "ss",
    "ẞ": "SS",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "ł": "l",
    "Ł": "L",
    "þ": "th",
    "Þ": "Th",
    "ı": "i",
    "‘": "'",
    "’": "'",
    "‚": ",",
    "“": '"',
    "”": '"',
    "„": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "€": "EUR",
}

_TRANSLIT_HANDLER = "interlend-sip2-transliterate"


def transliterate(char: str, charset: str) -> str:
    """Spell one character with characters that ``charset`` can encode.

    Args:
        char: A single character the charset could not encode.
        charset: The Python codec name of the target charset.

    Returns:
        Its closest spelling in the charset, or ``"?"`` when there is none.
    """
    candidates = [
        _LATIN_SPELLINGS.get(char, ""),
        "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)),
    ]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            candidate.encode(charset)
        except UnicodeEncodeError:
            continue
        return candidate
    return "?"


def _transliterate_error(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):  # pragma: no cover - registered for encoding only
        raise error
    bad = error.object[error.start : error.end]
    return "".join(transliterate(c, error.encoding) for c in bad), error.end


codecs.register_error(_TRANSLIT_HANDLER, _transliterate_error)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one peer writes SIP2.

    Attributes:
        charset: Character set of the wire bytes (the checksum is over those bytes).
        field_delimiter: The character after each variable field, ``|`` by default.
        terminator: What ends the frames we send.
        strict: Parse the 2.00 text literally instead of tolerating common practice.
        timezone: The zone that "local time" dates (blank zone indicator) are in.
        utc_dates: Send dates in UTC with the ``Z`` indicator instead of local time.
        unencodable: What to do with characters the charset cannot carry.
        max_field_length: Longest variable field value we send (255 in the
            standard); strict parsing refuses longer ones.  ``None`` lifts the limit.
    """

    charset: Charset = Charset.CP850
    field_delimiter: str = "|"
    terminator: Terminator = Terminator.CR
    strict: bool = False
    timezone: tzinfo = UTC
    utc_dates: bool = False
    unencodable: Unencodable = Unencodable.ERROR
    max_field_length: int | None = 255
    _codec: str = field(init=False, repr=False, compare=False)
    _encode_errors: str = field(init=False, repr=False, compare=False)
    _delimiter_bytes: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        delimiter = self.field_delimiter
        if len(delimiter) != 1 or not delimiter.isascii() or delimiter.isalnum():
            raise LocalProtocolError(
                f"field delimiter must be one ASCII character other than a letter or "
                f"digit, got {delimiter!r}"
            )
        if delimiter in "\r\n\x00":
            raise LocalProtocolError("field delimiter cannot be CR, LF or NUL")
        if self.max_field_length is not None and self.max_field_length < 1:
            raise LocalProtocolError("max_field_length must be positive or None")
        object.__setattr__(self, "_codec", self.charset.value)
        object.__setattr__(self, "_delimiter_bytes", delimiter.encode("ascii"))
        object.__setattr__(
            self,
            "_encode_errors",
            _TRANSLIT_HANDLER if self.unencodable is Unencodable.TRANSLITERATE else "strict",
        )

    @property
    def codec(self) -> str:
        """The Python codec name of the charset."""
        return self._codec

    @property
    def encode_errors(self) -> str:
        """The ``errors=`` argument used when encoding text for this peer."""
        return self._encode_errors

    @property
    def delimiter_bytes(self) -> bytes:
        """The field delimiter as it is on the wire (ASCII, so the same in every charset)."""
        return self._delimiter_bytes


DEFAULT_DIALECT = Dialect()
"""cp850, ``|``, CR, lenient parsing, UTC local time: the spec's defaults, read kindly."""
