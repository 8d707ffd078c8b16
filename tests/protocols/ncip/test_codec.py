"""The NCIP codec: schema-valid out, lenient in, hostile XML refused quickly."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from lxml import etree

from protocols.ncip import (
    SERVICES,
    AcceptItem,
    AcceptItemResponse,
    CancelRequestItem,
    CancelRequestItemResponse,
    CheckInItem,
    CheckInItemResponse,
    CheckOutItem,
    CheckOutItemResponse,
    DeleteItem,
    DeleteItemResponse,
    Header,
    LookupAgency,
    LookupAgencyResponse,
    LookupItem,
    LookupItemResponse,
    LookupUser,
    LookupUserResponse,
    NcipSyntaxError,
    NcipUnsupported,
    Patron,
    Privilege,
    Problem,
    ProblemResponse,
    ProblemType,
    RenewItem,
    RenewItemResponse,
    Request,
    RequestItem,
    RequestItemResponse,
    Response,
    Style,
    missing_element,
    parse_datetime,
    read_reply,
    read_request,
    write_request,
    write_response,
)
from protocols.ncip.xml import NS, parse

from .schema import assert_valid, sample_files, schema

DUE = datetime(2026, 12, 14, 23, 59, 59, tzinfo=UTC)
HEADER = Header(from_agency="interlend", to_agency="reshare")
ASK = Header(from_agency="reshare", to_agency="beta", application_profile="ILL")

RESPONSES: list[Response] = [
    LookupUserResponse(
        "21001000000001",
        "alpha",
        "Alpha Patron 1",
        (Privilege("alpha", "adult", "Active"),),
        (("alpha", "Excessive fines"),),
    ),
    LookupUserResponse("21001000000002"),
    CheckOutItemResponse("31002000000001", "ILL-alpha", DUE, "beta"),
    CheckInItemResponse("31002000000001", "ILL-alpha", "beta"),
    CheckInItemResponse("31002000000001"),
    RenewItemResponse("31002000000001", "ILL-alpha", DUE),
    RenewItemResponse("31002000000001"),
    LookupItemResponse("31002000000001", "Beta Book 1", "On Loan", DUE, "beta-stacks", "beta"),
    LookupItemResponse("31002000000002"),
    AcceptItemResponse("req-1", "TMP-1", "alpha"),
    AcceptItemResponse("req-2"),
    RequestItemResponse("21001000000001", "Hold", "Item", request_id="r1", item="31002000000001"),
    RequestItemResponse("21001000000001", "Hold", "Bibliographic Item", item="31002000000001"),
    CancelRequestItemResponse("21001000000001", request_id="r1"),
    CancelRequestItemResponse("21001000000001", item="31002000000001"),
    DeleteItemResponse("TMP-1"),
    LookupAgencyResponse("beta", "Beta Public Library"),
    LookupAgencyResponse("beta"),
    ProblemResponse("", (Problem(ProblemType.INVALID_MESSAGE_SYNTAX, "not well-formed XML"),)),
    *(
        ProblemResponse(
            service,
            (Problem(ProblemType.UNKNOWN_USER, "no such card", "UserIdentifierValue", "x"),),
        )
        for service in SERVICES
    ),
]


@pytest.mark.parametrize("response", RESPONSES, ids=lambda r: type(r).__name__)
@pytest.mark.parametrize("header", [None, HEADER], ids=["no-header", "header"])
def test_every_response_is_schema_valid(response: Response, header: Header | None) -> None:
    schema()  # skips, with the reason, where ../shared is absent
    assert_valid(write_response(response, header=header))


def test_the_default_style_qualifies_version_and_scheme() -> None:
    body = write_response(RequestItemResponse("p", "Hold", "Item", request_id="r"), header=HEADER)
    root = etree.fromstring(body)
    assert root.tag == f"{{{NS}}}NCIPMessage"
    assert root.prefix == "ns1"
    assert root.get(f"{{{NS}}}version", "").endswith("ncip_v2_02.xsd")
    scheme = root.find(f".//{{{NS}}}RequestType")
    assert scheme is not None
    assert scheme.get(f"{{{NS}}}Scheme") is not None


def test_the_prefix_free_style_writes_a_default_namespace_and_plain_attributes() -> None:
    body = write_response(CheckOutItemResponse("i", "u", DUE), Style(prefix=None, date_only=True))
    text = body.decode()
    assert '<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version=' in text
    assert "ns1:" not in text
    assert "<DateDue>2026-12-14</DateDue>" in text


REQUESTS: list[Request] = [
    LookupUser(ASK, Patron("21001000000001", None, "1234"), ("Name Information",)),
    LookupUser(ASK, Patron("21001000000001", "alpha")),
    CheckOutItem(ASK, Patron("ILL-alpha", "beta"), "31002000000001", "req-9", DUE),
    CheckInItem(ASK, "31002000000001"),
    RenewItem(ASK, Patron("ILL-alpha"), "31002000000001", DUE),
    LookupItem(ASK, "31002000000001"),
    LookupItem(ASK, None, "req-9"),
    AcceptItem(
        ASK,
        "req-9",
        "Hold For Pickup",
        Patron("21001000000001"),
        "TMP-9",
        "A Title",
        "An Author",
        DUE,
        "alpha-main",
    ),
    RequestItem(ASK, Patron("21001000000001"), ("31002000000001",), (), "req-9", "Hold", "Item"),
    RequestItem(
        ASK,
        Patron("21001000000001"),
        (),
        ("9780306406157",),
        "req-10",
        "Hold",
        "Bibliographic Item",
    ),
    RequestItem(
        ASK, Patron("21001000000001"), (), ("b1234567",), None, "Loan", "Bibliographic Item"
    ),
    CancelRequestItem(ASK, Patron("21001000000001"), None, "req-9", "Hold"),
    CancelRequestItem(ASK, Patron("21001000000001"), "31002000000001", None, "Hold"),
    DeleteItem(ASK, "TMP-9"),
    LookupAgency(ASK, "beta"),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_written_requests_are_valid_and_read_back_the_same(request_: Request) -> None:
    schema()  # skips, with the reason, where ../shared is absent
    body = write_request(request_)
    assert_valid(body)
    assert read_request(body) == request_


def test_requests_read_without_namespace_prefix_or_order() -> None:
    """No namespace, children in the 'wrong' order, unqualified attributes, DOCTYPE."""
    body = b"""<?xml version="1.0"?>
<!DOCTYPE NCIPMessage SYSTEM "http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd">
<NCIPMessage version="2.02"><CheckOutItem>
  <ItemId><ItemIdentifierValue>31002000000001</ItemIdentifierValue></ItemId>
  <UserId><UserIdentifierValue>ILL-alpha</UserIdentifierValue><AgencyId>beta</AgencyId></UserId>
  <InitiationHeader><ToAgencyId><AgencyId>beta</AgencyId></ToAgencyId>
    <FromAgencyId><AgencyId>reshare</AgencyId></FromAgencyId></InitiationHeader>
  <DesiredDateDue>2026-12-14</DesiredDateDue>
</CheckOutItem></NCIPMessage>"""
    read = read_request(body)
    assert read == CheckOutItem(
        Header("reshare", "beta"),
        Patron("ILL-alpha", "beta"),
        "31002000000001",
        None,
        datetime(2026, 12, 14, tzinfo=UTC),
    )


def test_user_id_and_pin_together_are_read() -> None:
    """Some clients send UserId and AuthenticationInput both (a schema violation)."""
    body = f"""<NCIPMessage xmlns="{NS}" version="x"><LookupUser>
      <UserId><UserIdentifierValue>21001000000001</UserIdentifierValue></UserId>
      <AuthenticationInput><AuthenticationInputData>1234</AuthenticationInputData>
        <AuthenticationDataFormatType>text</AuthenticationDataFormatType>
        <AuthenticationInputType>PIN</AuthenticationInputType></AuthenticationInput>
    </LookupUser></NCIPMessage>""".encode()
    read = read_request(body)
    assert isinstance(read, LookupUser)
    assert read.patron == Patron("21001000000001", None, "1234")
    assert "1234" not in repr(read.patron)


def test_ncip1_style_identifiers_are_read() -> None:
    body = b"""<NCIPMessage version="http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd">
    <CheckInItem><InitiationHeader><FromAgencyId><UniqueAgencyId><Scheme>x</Scheme>
      <Value>SHAREit</Value></UniqueAgencyId></FromAgencyId><ToAgencyId><UniqueAgencyId>
      <Scheme>x</Scheme><Value>beta</Value></UniqueAgencyId></ToAgencyId></InitiationHeader>
    <UniqueItemId><ItemIdentificationCode>31002000000001</ItemIdentificationCode></UniqueItemId>
    </CheckInItem></NCIPMessage>"""
    assert read_request(body) == CheckInItem(Header("SHAREit", "beta"), "31002000000001")


@pytest.mark.parametrize(
    ("body", "element"),
    [
        (f'<NCIPMessage xmlns="{NS}"><CheckInItem/></NCIPMessage>', "ItemId"),
        (f'<NCIPMessage xmlns="{NS}"><LookupUser/></NCIPMessage>', "UserId or AuthenticationInput"),
        (f'<NCIPMessage xmlns="{NS}"><AcceptItem/></NCIPMessage>', "RequestId"),
        (
            f'<NCIPMessage xmlns="{NS}"><RequestItem><UserId><UserIdentifierValue>u'
            "</UserIdentifierValue></UserId></RequestItem></NCIPMessage>",
            "ItemId or BibliographicId",
        ),
        (f'<NCIPMessage xmlns="{NS}"><LookupAgency/></NCIPMessage>', "AgencyId"),
    ],
)
def test_a_missing_required_element_is_named(body: str, element: str) -> None:
    with pytest.raises(NcipSyntaxError) as raised:
        read_request(body.encode())
    assert missing_element(raised.value) == element


def test_unknown_and_unsupported_services() -> None:
    with pytest.raises(NcipUnsupported) as raised:
        read_request(f'<NCIPMessage xmlns="{NS}"><CreateUser/></NCIPMessage>'.encode())
    assert raised.value.service == "CreateUser"
    with pytest.raises(NcipSyntaxError, match="not NCIPMessage"):
        read_request(b"<html><body>It works!</body></html>")
    with pytest.raises(NcipSyntaxError, match="no service"):
        read_request(f'<NCIPMessage xmlns="{NS}"/>'.encode())


# --- hostile input --------------------------------------------------------------------------


def _quick(body: bytes) -> NcipSyntaxError | None:
    started = time.monotonic()
    try:
        read_request(body)
    except NcipSyntaxError as exc:
        return exc
    except NcipUnsupported:
        return None
    finally:
        assert time.monotonic() - started < 2
    return None


def test_external_entities_are_never_resolved(tmp_path: object) -> None:
    body = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<NCIPMessage><CheckInItem><ItemId><ItemIdentifierValue>&x;</ItemIdentifierValue></ItemId>
</CheckInItem></NCIPMessage>"""
    try:
        read = read_request(body)
    except NcipSyntaxError:
        return
    assert isinstance(read, CheckInItem)
    assert "root:" not in read.item


def test_an_entity_bomb_is_refused_quickly() -> None:
    entities = ['<!ENTITY l0 "lol">']
    entities += [f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)]
    body = (
        f'<?xml version="1.0"?><!DOCTYPE r [{"".join(entities)}]><NCIPMessage><CheckInItem>'
        "<ItemId><ItemIdentifierValue>&l9;</ItemIdentifierValue></ItemId></CheckInItem>"
        "</NCIPMessage>"
    )
    error = _quick(body.encode())
    if error is None:  # parsed without expanding: the value cannot be the bomb
        read = read_request(body.encode())
        assert isinstance(read, CheckInItem)
        assert len(read.item) < 1000


def test_a_ten_megabyte_body_is_refused_before_parsing() -> None:
    body = b"<NCIPMessage>" + b" " * (10 * 1024 * 1024) + b"</NCIPMessage>"
    error = _quick(body)
    assert error is not None
    assert "limit" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<NCIPMessage><CheckInItem><ItemId>",
        b"\xff\xfe garbage",
        b"<NCIPMessage>" + b"<a>" * 100 + b"</a>" * 100 + b"</NCIPMessage>",
    ],
    ids=["empty", "blank", "truncated", "binary", "deep"],
)
def test_malformed_bodies_are_syntax_errors(body: bytes) -> None:
    assert _quick(body) is not None


def test_dates_in_the_forms_peers_send() -> None:
    assert parse_datetime("2026-12-14T23:59:59Z") == DUE
    assert parse_datetime("2026-12-14T23:59:59") == DUE
    assert parse_datetime("2026-12-14") == datetime(2026, 12, 14, tzinfo=UTC)
    assert parse_datetime("2026-12-14T23:59:59.000+00:00") == DUE
    assert parse_datetime("14/12/2026") is None
    assert parse_datetime("") is None


# --- the initiator's reading of answers --------------------------------------------------------


def test_replies_with_problems_and_payloads() -> None:
    failed = read_reply(
        write_response(ProblemResponse("CheckInItem", (Problem(ProblemType.ITEM_NOT_CHECKED_OUT),)))
    )
    assert failed.service == "CheckInItem"
    assert not failed.ok
    assert failed.already_checked_in
    assert failed.has_problem("item not checked out")
    lent = read_reply(write_response(CheckOutItemResponse("i", "u", DUE)))
    assert lent.ok
    assert lent.payload.value("DateDue") == "2026-12-14T23:59:59Z"
    message = read_reply(write_response(ProblemResponse("", (Problem("Unknown Service"),))))
    assert message.service == ""
    assert message.problems[0].type == "Unknown Service"
    assert not message.already_checked_in
    with pytest.raises(NcipSyntaxError):
        read_reply(b"<Problem><message>NPE</message></Problem>")
    with pytest.raises(NcipSyntaxError):
        read_reply(f'<NCIPMessage xmlns="{NS}"/>'.encode())


# --- samples from other systems --------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sample_files() or [None], ids=lambda p: "/".join(p.parts[-2:]) if p else "absent"
)
def test_every_collected_sample_reads_without_an_unexpected_error(path: object) -> None:
    """Each sample is a request the codec reads, a service it does not offer, or XML it
    refuses as a syntax error (NCIP 1 templates, a not-well-formed file); never a crash."""
    if path is None:
        pytest.skip("../shared/reference/ncip/samples is absent")
    from pathlib import Path

    assert isinstance(path, Path)
    body = path.read_bytes()
    try:
        read = read_request(body)
    except (NcipSyntaxError, NcipUnsupported):
        return
    assert type(read).__name__ in SERVICES


def test_parse_gives_namespace_blind_nodes() -> None:
    root = parse(
        f'<x:NCIPMessage xmlns:x="{NS}" x:version="v"><x:A>1</x:A></x:NCIPMessage>'.encode()
    )
    assert root.name == "NCIPMessage"
    assert root.attribute("version") == "v"
    assert root.attribute("missing") is None
    assert root.value("A") == "1"
    assert root.values("A") == ["1"]
    assert root.values("B", "C") == []
    assert root.value("B") is None


def test_a_date_with_no_utc_form_is_not_a_date() -> None:
    assert parse_datetime("9999-12-31T23:59:59-12:00") is None
