"""Field kinds read and write wire text exactly, strictly or leniently."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from protocols.sip2 import (
    CirculationStatus,
    Dialect,
    HoldMode,
    ItemInformationResponse,
    LocalProtocolError,
    PatronStatus,
    SupportedMessages,
    decode,
    encode,
    transliterate,
)
from protocols.sip2.fieldtypes import (
    COUNT,
    OK,
    YN,
    YNU,
    Choice,
    Code,
    Date,
    Flags,
    Number,
    Text,
)

STRICT = Dialect(strict=True)
LENIENT = Dialect()


def test_flags_strict_and_lenient() -> None:
    """Y/N and 1/0 flags: strict takes exactly the two characters, lenient more."""
    assert YN.decode("Y", STRICT) is True
    assert YN.decode("N", STRICT) is False
    for raw in ("y", " ", "1"):
        with pytest.raises(ValueError, match="expected"):
            YN.decode(raw, STRICT)
    assert YN.decode("y", LENIENT) is True
    assert YN.decode(" ", LENIENT) is False
    assert OK.decode("Y", LENIENT) is True
    with pytest.raises(ValueError, match="expected"):
        YN.decode("X", LENIENT)
    assert (OK.encode(True, STRICT), OK.encode(False, STRICT)) == ("1", "0")
    with pytest.raises(ValueError, match="bool"):
        YN.encode(1, STRICT)


def test_tristate() -> None:
    """Y/N/U: U is unknown (None); lenient also reads blank and lower case."""
    assert [YNU.decode(c, STRICT) for c in "YNU"] == [True, False, None]
    assert YNU.decode(" ", LENIENT) is None
    assert YNU.decode("u", LENIENT) is None
    with pytest.raises(ValueError, match="'U'"):
        YNU.decode(" ", STRICT)
    assert [YNU.encode(v, STRICT) for v in (True, False, None)] == ["Y", "N", "U"]


def test_numbers() -> None:
    """Fixed numbers are zero-padded; lenient reads blanks and missing padding."""
    three = Number(3)
    assert three.decode("030", STRICT) == 30
    with pytest.raises(ValueError, match="3 digits"):
        three.decode("30", STRICT)
    with pytest.raises(ValueError, match="expected digits"):
        three.decode(" 30", STRICT)
    assert three.decode(" 30", LENIENT) == 30
    assert Number(4).decode("5", LENIENT) == 5
    for raw in ("5a", "²", "", "-1"):
        with pytest.raises(ValueError, match="digits"):
            Number().decode(raw, LENIENT)
    assert three.encode(7, STRICT) == "007"
    assert Number().encode(1234567, STRICT) == "1234567"
    with pytest.raises(ValueError, match="non-negative int"):
        three.encode(True, STRICT)
    with pytest.raises(ValueError, match="does not fit"):
        three.encode(1000, STRICT)


def test_counts_may_be_unsupported() -> None:
    """Four blanks mean "not supported" in 64's counts."""
    assert COUNT.decode("    ", STRICT) is None
    assert COUNT.decode("0042", STRICT) == 42
    assert COUNT.encode(None, STRICT) == "    "
    assert COUNT.encode(3, STRICT) == "0003"


def test_codes_keep_unknown_values() -> None:
    """A code the standard does not define stays an int instead of being refused."""
    status = Code(2, CirculationStatus)
    known = status.decode("04", STRICT)
    assert known is CirculationStatus.CHARGED
    unknown = status.decode("14", STRICT)
    assert unknown == 14
    assert type(unknown) is int
    assert status.encode(CirculationStatus.IN_TRANSIT, STRICT) == "10"
    assert status.encode(14, STRICT) == "14"
    with pytest.raises(ValueError, match="non-negative int"):
        status.encode("04", STRICT)


def test_choice() -> None:
    """Hold mode is one of + - *."""
    mode = Choice(HoldMode)
    assert mode.decode("*", STRICT) is HoldMode.CHANGE
    with pytest.raises(ValueError, match="expected one of"):
        mode.decode("x", LENIENT)
    assert mode.encode(HoldMode.DELETE, STRICT) == "-"
    with pytest.raises(ValueError, match="HoldMode"):
        mode.encode("-", STRICT)


def test_positional_flags() -> None:
    """Patron status and BX are flag sets, bit n for position n."""
    status = Flags(14, PatronStatus, " ")
    value = status.decode("Y         Y   ", STRICT)
    assert value == PatronStatus.CHARGE_PRIVILEGES_DENIED | PatronStatus.EXCESSIVE_OUTSTANDING_FINES
    assert status.encode(value, STRICT) == "Y         Y   "
    with pytest.raises(ValueError, match="'Y' or ' '"):
        status.decode("N" * 14, STRICT)
    assert status.decode("N" * 14, LENIENT) == PatronStatus(0)
    with pytest.raises(ValueError, match="14 positions"):
        status.decode("Y", STRICT)
    with pytest.raises(ValueError, match="at most 14"):
        status.decode("Y" * 15, LENIENT)
    supported = Flags(16, SupportedMessages, "N")
    assert supported.decode("YYYY", LENIENT) == SupportedMessages(0b1111)
    assert supported.encode(SupportedMessages.LOGIN, STRICT) == "NNNNNNYNNNNNNNNN"
    with pytest.raises(ValueError, match="SupportedMessages"):
        supported.encode(PatronStatus(1), STRICT)


def test_flag_decoding_is_cached_but_bounded() -> None:
    """Repeated strings are decoded once; the cache stops growing at its limit."""
    status = Flags(14, PatronStatus, " ")
    first = status.decode("Y" + " " * 13, STRICT)
    assert status.decode("Y" + " " * 13, STRICT) is first
    for n in range(Flags._CACHE_LIMIT + 10):
        raw = format(n, "014b").replace("0", " ").replace("1", "Y")
        assert int(status.decode(raw, LENIENT)) == int(format(n, "014b")[::-1], 2)
    assert len(status._cache) == Flags._CACHE_LIMIT


def test_text_patterns_apply_to_strict_parsing() -> None:
    """Fixed text such as the protocol version is checked only when strict."""
    version = Text(4, pattern=r"[0-9]\.[0-9]{2}")
    assert version.decode("2.00", STRICT) == "2.00"
    with pytest.raises(ValueError, match="does not match"):
        version.decode("2.0 ", STRICT)
    assert version.decode("2.0 ", LENIENT) == "2.0 "
    with pytest.raises(ValueError, match="exactly 4"):
        version.encode("2.0", STRICT)


class TestDates:
    """The 18-character date with its zone indicator."""

    date = Date()

    def test_local_time_is_in_the_dialects_zone(self) -> None:
        """Four blanks mean the peer's local time."""
        oslo = ZoneInfo("Europe/Oslo")
        value = self.date.decode("20260701    120000", Dialect(timezone=oslo))
        assert value == datetime(2026, 7, 1, 12, tzinfo=oslo)
        assert value is not None
        assert value.utcoffset() == timedelta(hours=2)

    def test_zone_letters(self) -> None:
        """Z is UTC, J is local, other letters are military zones; lenient is looser."""
        assert self.date.decode("20260701   Z120000", STRICT) == datetime(
            2026, 7, 1, 12, tzinfo=UTC
        )
        local = self.date.decode("20260701   J120000", STRICT)
        assert local == datetime(2026, 7, 1, 12, tzinfo=UTC)
        alpha = self.date.decode("20260701   A120000", STRICT)
        assert alpha == datetime(2026, 7, 1, 12, tzinfo=timezone(timedelta(hours=1)))
        assert self.date.decode("20260701z   120000", LENIENT) == datetime(
            2026, 7, 1, 12, tzinfo=UTC
        )
        for zone in ("Z   ", "   *"):
            with pytest.raises(ValueError, match="time zone"):
                self.date.decode(f"20260701{zone}120000", STRICT)

    def test_impossible_and_malformed_dates(self) -> None:
        """Month 13, letters in the digits and a wrong length are refused."""
        for raw in ("20261301    120000", "2026O701    120000", "20260701    12000", "2026"):
            with pytest.raises(ValueError, match=r"date|month"):
                self.date.decode(raw, LENIENT)

    def test_no_date(self) -> None:
        """Blanks (or zeros) are 'no date': strict only where the field allows it."""
        assert self.date.decode(" " * 18, LENIENT) is None
        assert self.date.decode("0" * 18, LENIENT) is None
        with pytest.raises(ValueError, match="lenient parsing accepts blanks"):
            self.date.decode(" " * 18, STRICT)
        sync = Date("0" * 18, nullable=True)
        assert sync.decode("0" * 18, STRICT) is None
        assert sync.encode(None, STRICT) == "0" * 18
        assert self.date.encode(None, STRICT) == " " * 18

    def test_writing(self) -> None:
        """Dates are written in the peer's zone, or in UTC with Z when it asks for that."""
        value = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=timezone(timedelta(hours=-5)))
        assert self.date.encode(value, STRICT) == "20260102    080405"
        chicago = Dialect(timezone=ZoneInfo("America/Chicago"))
        assert self.date.encode(value, chicago) == "20260102    020405"
        assert self.date.encode(value, Dialect(utc_dates=True)) == "20260102   Z080405"
        assert self.date.encode(datetime(1, 1, 1, 2, tzinfo=UTC), STRICT) == "00010101    020000"

    def test_unwritable_dates(self) -> None:
        """Naive datetimes, non-datetimes and dates outside the calendar are refused."""
        with pytest.raises(ValueError, match="timezone-aware"):
            self.date.encode(datetime(2026, 1, 1), STRICT)
        with pytest.raises(ValueError, match="expected a datetime"):
            self.date.encode("20260101", STRICT)
        edge = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))
        with pytest.raises(ValueError, match="cannot be expressed"):
            self.date.encode(edge, STRICT)


class TestDialect:
    """Dialect choices are validated when the dialect is made."""

    @pytest.mark.parametrize("delimiter", ["", "||", "a", "7", "é"])
    def test_delimiter_must_be_one_ascii_symbol(self, delimiter: str) -> None:
        """A letter, digit, non-ASCII or multi-character delimiter is refused."""
        with pytest.raises(LocalProtocolError, match="delimiter"):
            Dialect(field_delimiter=delimiter)

    @pytest.mark.parametrize("delimiter", ["\r", "\n", "\x00"])
    def test_delimiter_cannot_be_a_frame_byte(self, delimiter: str) -> None:
        """CR, LF and NUL cannot separate fields."""
        with pytest.raises(LocalProtocolError, match="CR, LF or NUL"):
            Dialect(field_delimiter=delimiter)

    def test_field_length_limit_must_be_positive(self) -> None:
        """A limit of zero is refused; None lifts it."""
        with pytest.raises(LocalProtocolError, match="max_field_length"):
            Dialect(max_field_length=0)
        assert Dialect(max_field_length=None).max_field_length is None

    def test_transliteration(self) -> None:
        """Characters get their Latin spelling in the target charset, else '?'."""
        assert transliterate("ß", "ascii") == "ss"
        assert transliterate("é", "ascii") == "e"
        assert transliterate("€", "cp850") == "EUR"
        assert transliterate("Ø", "ascii") == "O"
        assert transliterate("山", "cp850") == "?"
        assert transliterate("ǅ", "ascii") == "Dz"


def test_a_code_given_as_int_equals_the_decoded_member() -> None:
    """A message built with a plain int code equals the decoded one holding the member."""
    built = ItemInformationResponse(
        circulation_status=4,
        security_marker=0,
        fee_type=1,
        transaction_date=None,
        item_identifier="31002000000001",
    )
    decoded = decode(encode(built)).message
    assert isinstance(decoded, ItemInformationResponse)
    assert isinstance(decoded.circulation_status, enum.IntEnum)
    assert decoded == built


def test_flag_encoding_is_cached_but_bounded() -> None:
    """Each set of flags is written once; the cache stops growing at its limit."""
    supported = Flags(16, SupportedMessages, "N")
    first = supported.encode(SupportedMessages.LOGIN, STRICT)
    assert supported.encode(SupportedMessages.LOGIN, STRICT) is first
    for n in range(Flags._CACHE_LIMIT + 10):
        text = supported.encode(SupportedMessages(n), STRICT)
        assert text == format(n, "016b")[::-1].replace("0", "N").replace("1", "Y")
    assert len(supported._written) == Flags._CACHE_LIMIT


def test_codes_written_the_standard_way_are_read_once() -> None:
    """A code of ``width`` digits is cached; a lenient spelling is read but not kept."""
    language = Code(3, HoldModeCodes)
    assert language.decode("001", STRICT) is language.decode("001", LENIENT)
    assert language.decode(" 1", LENIENT) == HoldModeCodes.ONE
    assert language.decode("007", STRICT) == 7
    assert set(language._read) == {"001", "007"}


class HoldModeCodes(enum.IntEnum):
    """A small code table for the cache test."""

    ONE = 1


class TestDateCaches:
    """The last date read and written are reused only when the result is the same."""

    def test_reading_depends_on_the_local_zone_and_strictness(self) -> None:
        """The same text read in another zone, or leniently, is read again."""
        date = Date()
        oslo = Dialect(timezone=ZoneInfo("Europe/Oslo"))
        first = date.decode("20260701    120000", LENIENT)
        assert date.decode("20260701    120000", LENIENT) is first
        assert date.decode("20260701    120000", oslo) == datetime(
            2026, 7, 1, 12, tzinfo=ZoneInfo("Europe/Oslo")
        )
        assert date.decode("20260701    120000", STRICT) == first
        assert date.decode("20260701    120001", STRICT) != first

    def test_writing_depends_on_the_instant_zone_and_fold(self) -> None:
        """Equal instants in the same zone and fold are written once; others are not."""
        date = Date()
        noon = datetime(2026, 7, 1, 12, tzinfo=UTC)
        first = date.encode(noon, LENIENT)
        assert date.encode(datetime(2026, 7, 1, 12, tzinfo=UTC), LENIENT) is first
        assert date.encode(noon, Dialect(utc_dates=True)) == "20260701   Z120000"
        oslo = ZoneInfo("Europe/Oslo")
        assert date.encode(noon, Dialect(timezone=oslo)) == "20260701    140000"
        # 02:30 on 25 October 2026 happens twice in Oslo: the fold tells them apart.
        early = datetime(2026, 10, 25, 2, 30, tzinfo=oslo)
        late = early.replace(fold=1)
        assert early == late
        assert date.encode(early, STRICT) == "20261025    003000"
        assert date.encode(late, STRICT) == "20261025    013000"
        # Equal instants in other zones are written from the instant.
        assert date.encode(datetime(2026, 7, 1, 14, tzinfo=oslo), STRICT) == "20260701    120000"
        with pytest.raises(ValueError, match="datetime"):
            date.encode("20260701    120000", STRICT)


def test_date_caches_start_over_when_full() -> None:
    """Many distinct dates are all read and written right; the caches stay bounded."""
    from protocols.sip2.fieldtypes import _DATE_CACHE_LIMIT

    date = Date()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(_DATE_CACHE_LIMIT + 10):
        value = start + timedelta(seconds=n)
        text = date.encode(value, STRICT)
        assert date.decode(text, STRICT) == value
    assert len(date._read) <= _DATE_CACHE_LIMIT
    assert len(date._written) <= _DATE_CACHE_LIMIT


class _Moment(datetime):
    """A ``datetime`` subclass, as date libraries hand out."""


def test_dates_of_a_datetime_subclass_are_written_too() -> None:
    """A subclass is written like a datetime (it is not kept: its equality may differ)."""
    date = Date()
    assert date.encode(_Moment(2026, 7, 1, 12, tzinfo=UTC), STRICT) == "20260701    120000"
    assert not date._written


def test_codes_are_written_once_and_checked_every_time() -> None:
    """A code's text is kept once written; bools, negatives and overflows are refused."""
    code = Code(2, CirculationStatus)
    first = code.encode(CirculationStatus.AVAILABLE, STRICT)
    assert first == "03"
    assert code.encode(3, STRICT) is first
    for bad in (True, -1, 100, "03"):
        with pytest.raises(ValueError, match=r"non-negative int|does not fit"):
            code.encode(bad, STRICT)
    assert set(code._written) == {3}
