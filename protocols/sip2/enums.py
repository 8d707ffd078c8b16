"""Code tables of SIP2 2.00 (reference §1.8) as enums and flag sets.

Numeric codes are ``IntEnum`` members when the standard defines them.  A peer may send
a code the standard does not list (vendors extend media types, for instance); the codec
then keeps the plain ``int`` so that nothing is lost, which is why message fields are
annotated ``MediaType | int`` and the like.

Fixed strings of ``Y``/blank positions (patron status, summary) and of ``Y``/``N``
positions (supported messages) are ``IntFlag`` sets: bit *n* is position *n*.
"""

from __future__ import annotations

import enum

__all__ = [
    "AlertType",
    "CirculationStatus",
    "FeeType",
    "HoldMode",
    "HoldType",
    "Language",
    "MediaType",
    "PatronStatus",
    "PaymentType",
    "ScStatusCode",
    "SecurityMarker",
    "Summary",
    "SupportedMessages",
]


class Language(enum.IntEnum):
    """The 3-digit language codes."""

    UNKNOWN = 0
    ENGLISH = 1
    FRENCH = 2
    GERMAN = 3
    ITALIAN = 4
    DUTCH = 5
    SWEDISH = 6
    FINNISH = 7
    SPANISH = 8
    DANISH = 9
    PORTUGUESE = 10
    CANADIAN_FRENCH = 11
    NORWEGIAN = 12
    HEBREW = 13
    JAPANESE = 14
    RUSSIAN = 15
    ARABIC = 16
    POLISH = 17
    GREEK = 18
    CHINESE = 19
    KOREAN = 20
    NORTH_AMERICAN_SPANISH = 21
    TAMIL = 22
    MALAY = 23
    UNITED_KINGDOM = 24
    ICELANDIC = 25
    BELGIAN = 26
    TAIWANESE = 27


class CirculationStatus(enum.IntEnum):
    """Item circulation status (message 18)."""

    OTHER = 1
    ON_ORDER = 2
    AVAILABLE = 3
    CHARGED = 4
    CHARGED_NOT_TO_BE_RECALLED = 5
    IN_PROCESS = 6
    RECALLED = 7
    WAITING_ON_HOLD_SHELF = 8
    WAITING_TO_BE_RESHELVED = 9
    IN_TRANSIT = 10
    CLAIMED_RETURNED = 11
    LOST = 12
    MISSING = 13


class SecurityMarker(enum.IntEnum):
    """Item security marker (message 18)."""

    OTHER = 0
    NONE = 1
    TATTLE_TAPE = 2
    WHISPER_TAPE = 3


class FeeType(enum.IntEnum):
    """Fee type (messages 37, 18; field BT)."""

    OTHER = 1
    ADMINISTRATIVE = 2
    DAMAGE = 3
    OVERDUE = 4
    PROCESSING = 5
    RENTAL = 6
    REPLACEMENT = 7
    COMPUTER_ACCESS = 8
    HOLD_FEE = 9


class PaymentType(enum.IntEnum):
    """Payment type (message 37); ``CHECK`` is the Evergreen extension."""

    CASH = 0
    VISA = 1
    CREDIT_CARD = 2
    CHECK = 5


class MediaType(enum.IntEnum):
    """Media type (field CK)."""

    OTHER = 0
    BOOK = 1
    MAGAZINE = 2
    BOUND_JOURNAL = 3
    AUDIO_TAPE = 4
    VIDEO_TAPE = 5
    CD = 6
    DISKETTE = 7
    BOOK_WITH_DISKETTE = 8
    BOOK_WITH_CD = 9
    BOOK_WITH_AUDIO_TAPE = 10


class HoldType(enum.IntEnum):
    """Hold type (field BY)."""

    OTHER = 1
    ANY_COPY_OF_TITLE = 2
    SPECIFIC_COPY = 3
    ANY_COPY_AT_BRANCH = 4


class AlertType(enum.IntEnum):
    """Alert type of the 3M extension field CV (carried as an extension field)."""

    NONE = 0
    HOLD_FOR_THIS_LIBRARY = 1
    HOLD_FOR_OTHER_LIBRARY = 2
    HOLD_IN_TRANSIT = 3
    SEND_TO_OTHER_LIBRARY = 4
    OTHER = 99


class ScStatusCode(enum.IntEnum):
    """Status code of message 99."""

    OK = 0
    OUT_OF_PAPER = 1
    SHUTTING_DOWN = 2


class HoldMode(enum.Enum):
    """Hold mode of message 15."""

    ADD = "+"
    DELETE = "-"
    CHANGE = "*"


class PatronStatus(enum.IntFlag):
    """The 14 patron status positions; a set bit is a ``Y`` on the wire."""

    CHARGE_PRIVILEGES_DENIED = 1 << 0
    RENEWAL_PRIVILEGES_DENIED = 1 << 1
    RECALL_PRIVILEGES_DENIED = 1 << 2
    HOLD_PRIVILEGES_DENIED = 1 << 3
    CARD_REPORTED_LOST = 1 << 4
    TOO_MANY_ITEMS_CHARGED = 1 << 5
    TOO_MANY_ITEMS_OVERDUE = 1 << 6
    TOO_MANY_RENEWALS = 1 << 7
    TOO_MANY_CLAIMS_OF_ITEMS_RETURNED = 1 << 8
    TOO_MANY_ITEMS_LOST = 1 << 9
    EXCESSIVE_OUTSTANDING_FINES = 1 << 10
    EXCESSIVE_OUTSTANDING_FEES = 1 << 11
    RECALL_OVERDUE = 1 << 12
    TOO_MANY_ITEMS_BILLED = 1 << 13


class Summary(enum.IntFlag):
    """The 10 summary positions of message 63 (6-9 are undefined but kept)."""

    HOLD_ITEMS = 1 << 0
    OVERDUE_ITEMS = 1 << 1
    CHARGED_ITEMS = 1 << 2
    FINE_ITEMS = 1 << 3
    RECALL_ITEMS = 1 << 4
    UNAVAILABLE_HOLDS = 1 << 5
    POSITION_6 = 1 << 6
    POSITION_7 = 1 << 7
    POSITION_8 = 1 << 8
    POSITION_9 = 1 << 9


class SupportedMessages(enum.IntFlag):
    """The 16 positions of field BX in message 98."""

    PATRON_STATUS_REQUEST = 1 << 0
    CHECKOUT = 1 << 1
    CHECKIN = 1 << 2
    BLOCK_PATRON = 1 << 3
    SC_ACS_STATUS = 1 << 4
    REQUEST_SC_ACS_RESEND = 1 << 5
    LOGIN = 1 << 6
    PATRON_INFORMATION = 1 << 7
    END_PATRON_SESSION = 1 << 8
    FEE_PAID = 1 << 9
    ITEM_INFORMATION = 1 << 10
    ITEM_STATUS_UPDATE = 1 << 11
    PATRON_ENABLE = 1 << 12
    HOLD = 1 << 13
    RENEW = 1 << 14
    RENEW_ALL = 1 << 15
