"""What ``interlend probe-ils`` prints: the findings, then the configuration to use.

Pure functions over the probe's results.  The report never shows a PIN or a patron's
name: a test card is reported by what the ILS said about it (known, PIN right,
blocked), an item by its status and title.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adapters.ils.base import ItemRecord, PatronRecord
from protocols.sip2 import CirculationStatus, SupportedMessages

if TYPE_CHECKING:
    from adapters.ils.sip2_probe import Sip2Probe
    from protocols.sip2 import ItemInformationResponse

__all__ = ["NcipFindings", "ncip_report", "sip2_report", "timezone_line"]

NEEDED = {
    SupportedMessages.PATRON_STATUS_REQUEST: "patron status (23): visitors' cards",
    SupportedMessages.CHECKOUT: "checkout (11): reciprocal loans",
    SupportedMessages.CHECKIN: "checkin (09): returns",
    SupportedMessages.ITEM_INFORMATION: "item information (17): reconciliation",
    SupportedMessages.RENEW: "renew (29): renewals",
    SupportedMessages.PATRON_INFORMATION: "patron information (63): loan lists",
}
"""Messages the gateway sends a member, and what lacks without each."""


def _label(flag: SupportedMessages) -> str:
    return (flag.name or "?").lower().replace("_", " ")


def _yes_no(value: bool | None, yes: str, no: str, unknown: str = "not said") -> str:
    return unknown if value is None else yes if value else no


def timezone_line(offset_s: int | None) -> str:
    """``ils.dialect.timezone`` for a server writing local time ``offset_s`` from UTC."""
    if offset_s is None:
        return (
            'ils.dialect.timezone = "UTC"   # its local time could not be read: '
            "set the library's IANA zone"
        )
    if offset_s == 0:
        return 'ils.dialect.timezone = "UTC"   # its local time is UTC now'
    hours, rest = divmod(abs(offset_s), 3600)
    sign = "+" if offset_s > 0 else "-"
    shown = f"UTC{sign}{hours:02d}:{rest // 60:02d}"
    if rest == 0 and hours <= 12:
        # The Etc zones count the other way: Etc/GMT-1 is one hour ahead of UTC.
        fixed = f"Etc/GMT{'-' if offset_s > 0 else '+'}{hours}"
        return (
            f'ils.dialect.timezone = "{fixed}"   # its clock reads {shown} now; prefer the '
            "library's IANA zone (such as Europe/Paris) so that summer time is followed"
        )
    return (
        f'ils.dialect.timezone = "UTC"   # its clock reads {shown} now: set the library\'s '
        "IANA zone"
    )


def _sip2_config(member: str, endpoint: str, probe: Sip2Probe) -> list[str]:
    lines = [f"[nodes.{member}]", 'ils.adapter = "sip2"', f'ils.endpoints = ["{endpoint}"]']
    if probe.institution_id:
        lines.append(f'ils.institution_id = "{probe.institution_id}"   # AO from its 98')
    if probe.terminator:
        lines.append(f'ils.dialect.terminator = "{probe.terminator}"')
    if probe.error_detection:
        lines.append(f'ils.dialect.error_detection = "{probe.error_detection}"')
    if probe.charset:
        lines.append(f'ils.dialect.charset = "{probe.charset}"   # {probe.charset_evidence}')
    else:
        lines.append(
            'ils.dialect.charset = "cp850"   # not seen (ASCII answers): the SIP2 default; '
            "probe a patron or item with accents to be sure"
        )
    if probe.dates_in_utc is True:
        lines.append("ils.dialect.utc_dates = true   # it writes UTC dates (zone Z)")
    elif probe.dates_in_utc is False:
        lines.append("ils.dialect.utc_dates = false   # it writes local time")
        lines.append(timezone_line(probe.clock_offset_s))
    return lines


def _item_line(item: ItemInformationResponse) -> str:
    if not item.title_identifier and item.screen_messages:
        return "NOT known: " + "; ".join(item.screen_messages)
    status = item.circulation_status
    label = status.name.lower().replace("_", " ") if isinstance(status, CirculationStatus) else ""
    title = f", {item.title_identifier!r}" if item.title_identifier else ""
    return f"status {int(status):02d} {label}{title}"


def sip2_report(member: str, probe: Sip2Probe) -> str:
    """The report for one SIP2 endpoint of ``member``."""
    out = [f"probe-ils {member}: SIP2 at {probe.endpoint}"]
    row = out.append
    row(f"  connected        {_yes_no(probe.connected, 'yes', 'no')}")
    for note in probe.notes:
        row(f"  tried            {note}")
    if probe.terminator:
        row(f"  terminator       {probe.terminator} (how its answers end)")
    if probe.error_detection == "required":
        row("  error detection  required: a frame without AY/AZ is answered with 96")
    elif probe.error_detection == "auto":
        row("  error detection  checked when sent: it answers with a valid AY/AZ of its own")
    elif probe.error_detection == "off":
        row("  error detection  off: it answers without AY/AZ")
    if probe.sequence_echoed is not None:
        row(
            "  sequence numbers "
            + _yes_no(probe.sequence_echoed, "echoed", "NOT echoed (its AY differs from ours)")
        )
    if probe.login_ok is not None:
        row(f"  login (93)       {_yes_no(probe.login_ok, 'accepted', 'refused')}")
    if probe.supported is not None:
        name = f", {probe.library_name!r}" if probe.library_name else ""
        row(
            f"  status (98)      institution {probe.institution_id or '(none)'}{name}, "
            f"protocol {probe.protocol_version}"
        )
        supported = [f for f in SupportedMessages if f in probe.supported]
        row(f"  supports         {len(supported)} of 16: {', '.join(map(_label, supported))}")
        for flag, why in NEEDED.items():
            if flag not in probe.supported:
                row(f"  MISSING          {why}")
    if probe.dates_in_utc is not None:
        row(
            "  dates            "
            + ("UTC (zone Z)" if probe.dates_in_utc else "local time (blank zone)")
        )
    row(f"  charset          {probe.charset or 'unknown'}: {probe.charset_evidence}")
    if probe.patron is not None:
        p = probe.patron
        row(
            f"  test patron      {_yes_no(p.valid_patron, 'known', 'NOT known')}, PIN "
            f"{_yes_no(p.valid_patron_password, 'right', 'WRONG', 'not checked')}, "
            f"{'blocked' if p.patron_status else 'no blocks'}"
        )
    if probe.item is not None:
        row(f"  test item        {_item_line(probe.item)}")
    for problem in probe.problems:
        row(f"  PROBLEM          {problem}")
    if probe.terminator:
        out.append("")
        out.append("Configuration for this member:")
        out.extend(_sip2_config(member, probe.endpoint, probe))
    return "\n".join(out)


@dataclass
class NcipFindings:
    """What the NCIP probe found."""

    endpoint: str
    to_agency: str
    agency: str | None = None
    agency_name: str | None = None
    patron: PatronRecord | None = None
    item: ItemRecord | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """LookupAgency answered and every test asked was answered."""
        return self.agency is not None and not self.problems


def ncip_report(member: str, found: NcipFindings) -> str:
    """The report for an NCIP member."""
    out = [f"probe-ils {member}: NCIP at {found.endpoint}"]
    row = out.append
    if found.agency is not None:
        name = f", {found.agency_name!r}" if found.agency_name else ""
        row(f"  LookupAgency     agency {found.agency}{name}")
    if found.patron is not None:
        p = found.patron
        row(
            f"  LookupUser       {_yes_no(p.found, 'known', 'NOT known')}, PIN "
            f"{_yes_no(p.pin_ok, 'right', 'WRONG', 'not checked')}, "
            f"{'blocked' if p.blocked else 'no blocks'}"
        )
    if found.item is not None:
        item = found.item
        title = f", {item.title!r}" if item.title else ""
        status = item.circulation_status
        row(
            "  LookupItem       "
            + (f"status {status:02d}{title}" if status is not None else f"known{title}")
            if item.found
            else "  LookupItem       NOT known"
        )
    for problem in found.problems:
        row(f"  PROBLEM          {problem}")
    if found.agency is not None:
        out.append("")
        out.append("Configuration for this member:")
        out.append(f"[nodes.{member}]")
        out.append('ils.adapter = "ncip"')
        out.append(f'ils.endpoints = ["{found.endpoint}"]')
        out.append(f'ils.ncip.to_agency = "{found.agency}"   # the agency it answered for')
    return "\n".join(out)
