"""Structured logging: structlog, JSON off a terminal, secrets masked before rendering.

``configure_logging()`` is called before the CLI writes its first line.  Every event
passes through ``redact_secrets``, which runs before the renderer and masks:

* values under keys that name a secret (``pin``, ``password``, ``token``,
  ``authorization``…, and the SIP2 identifiers ``AC``, ``AD``, ``CO``), at any depth;
* raw SIP2 frames under ``frame``/``raw``/``request``/``response``/``reply``: AC, AD and CO
  values are masked by the SIP2 codec's own redactor;
* NCIP XML under ``xml``/``body``: the content of ``AuthenticationInputData``.

``Message`` objects of the SIP2 codec mask their own secrets in ``repr``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

import structlog

from protocols.sip2 import redact_frame

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["configure_logging", "redact_secrets"]

MASK = "***"

SECRET_KEYS = frozenset(
    {
        "ac",
        "ad",
        "co",
        "pin",
        "password",
        "passwd",
        "patron_password",
        "login_password",
        "terminal_password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
        "authentication_input_data",
    }
)
FRAME_KEYS = frozenset({"frame", "raw", "request", "response", "reply"})
XML_KEYS = frozenset({"xml", "body"})

_NCIP_AUTH = re.compile(
    r"(<(?:[\w.-]+:)?AuthenticationInputData\b[^>]*>)(.*?)(</(?:[\w.-]+:)?AuthenticationInputData\s*>)",
    re.DOTALL,
)


def _redact_xml(text: str) -> str:
    return _NCIP_AUTH.sub(lambda m: m.group(1) + MASK + m.group(3), text)


def _redact_value(key: str, value: object) -> object:
    lowered = key.lower()
    if lowered in SECRET_KEYS:
        return MASK if value not in (None, "", b"") else value
    if lowered in FRAME_KEYS and isinstance(value, bytes | str):
        return redact_frame(value)
    if lowered in XML_KEYS and isinstance(value, bytes | str):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return _redact_xml(text)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """A structlog processor that masks PINs, passwords and tokens (see module doc)."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


class _StandardError:
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced later)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    *, level: str = "info", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Set up structlog for the process.

    Args:
        level: The lowest level written (``debug``, ``info``, ``warning``, ``error``).
        json: Force JSON (true) or console (false) output; by default JSON unless
            ``stream`` is a terminal.
        stream: Where to write; standard error by default.
    """
    out = stream if stream is not None else sys.stderr
    as_json = json if json is not None else not out.isatty()
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(
            file=out if stream is not None else _StandardError()  # type: ignore[arg-type]
        ),
        cache_logger_on_first_use=False,
    )
