"""Structured logging: structlog, JSON off a terminal, secrets masked before rendering.

``configure_logging()`` is called before the CLI writes its first line.  Every event
passes through ``redact_secrets``, which runs before the renderer and masks:

* values under keys that name a secret (``pin``, ``password``, ``token``,
  ``authorization``…, and the SIP2 identifiers ``AC``, ``AD``, ``CO``), at any depth;
* raw SIP2 frames under ``frame``/``raw``/``request``/``response``/``reply``: AC, AD and CO
  values are masked by the SIP2 codec's own redactor;
* NCIP XML under ``xml``/``body``: the content of ``AuthenticationInputData``.

``Message`` objects of the SIP2 codec mask their own secrets in ``repr``.

Lines written once per request (``hot_line``) skip structlog's logger machinery when
the configuration is this module's JSON one (a test capturing logs still sees them):
the chain's steps are done in place, and the line is the same JSON object at about
half the cost.  Fields every line of a process carries (a worker's number) are bound
once with ``bind_process_fields``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any, TextIO

import structlog

from protocols.sip2 import redact_frame

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "LineSampler",
    "bind_process_fields",
    "configure_logging",
    "hot_line",
    "redact_secrets",
]

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


_PLAIN, _SECRET, _FRAME, _XML = range(4)
_KINDS: dict[str, int] = {}
"""What each key seen so far is (by its lower-case form); keys are few (the names of
the fields the code logs), but nested mappings may bring others, so it is bounded."""
_KINDS_LIMIT = 4096
_PLAIN_KEYS: set[str] = set()
"""The keys of ``_KINDS`` that are plain (neither a secret, a frame nor XML)."""
_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Values that pass unchanged under a key that is not a secret, frame or XML key."""


def _kind(key: str) -> int:
    kind = _KINDS.get(key)
    if kind is None:
        lowered = key.lower()
        kind = (
            _SECRET
            if lowered in SECRET_KEYS
            else _FRAME
            if lowered in FRAME_KEYS
            else _XML
            if lowered in XML_KEYS
            else _PLAIN
        )
        if len(_KINDS) < _KINDS_LIMIT:
            _KINDS[key] = kind
            if kind == _PLAIN:
                _PLAIN_KEYS.add(key)
    return kind


def _redact_value(key: str, value: object) -> object:
    kind = _kind(key)
    if kind == _PLAIN and type(value) in _SCALARS:
        return value  # the common case: an id, a code, a number
    if kind == _SECRET:
        return MASK if value not in (None, "", b"") else value
    if kind == _FRAME and isinstance(value, bytes | str):
        return redact_frame(value)
    if kind == _XML and isinstance(value, bytes | str):
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
    kinds = _KINDS
    for key, value in event_dict.items():
        if kinds.get(key) == _PLAIN and type(value) in _SCALARS:
            continue  # most fields: nothing to mask, nothing to convert
        # Replacing the value of a key that is there already never resizes the dict.
        event_dict[key] = _redact_value(key, value)
    return event_dict


def _json_fallback(value: object) -> object:
    """What JSON cannot hold: an object's own ``__structlog__`` form, else its repr."""
    render = getattr(value, "__structlog__", None)
    return render() if callable(render) else repr(value)


_JSON = json.JSONEncoder(default=_json_fallback)
"""One encoder for every line (``json.dumps`` with an argument builds one per call)."""


def _json_line(event_dict: EventDict, **_options: object) -> str:
    """Render one event as a JSON object (what ``json.dumps`` would write)."""
    return _JSON.encode(event_dict)


_PROCESS_FIELDS: dict[str, object] = {}


def bind_process_fields(**fields: object) -> None:
    """Put ``fields`` on every line this process writes from now on."""
    _PROCESS_FIELDS.update(fields)


def _add_process_fields(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    for key, value in _PROCESS_FIELDS.items():
        event_dict.setdefault(key, value)
    return event_dict


_LEVELS = {"warn": "warning", "exception": "error"}


def _add_level(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    event_dict["level"] = _LEVELS.get(method_name, method_name)
    return event_dict


class _UtcStamp:
    """ISO 8601 UTC time stamps with microseconds (``2026-12-04T19:29:10.726156Z``); the
    part up to the seconds is formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event_dict["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        return event_dict


class _HotPath:
    """What ``hot_line`` needs of the configuration ``configure_logging`` made."""

    def __init__(
        self, processors: list[Processor], stamp: _UtcStamp, logger: structlog.WriteLogger
    ) -> None:
        self.processors = processors
        self.chain = tuple(processors)
        self.stamp = stamp
        self.logger = logger

    def in_force(self) -> bool:
        """Whether structlog still runs this chain (a capture empties the same list)."""
        running = structlog.get_config()["processors"]
        return running is self.processors and running[-1:] == [self.chain[-1]]


_HOT: _HotPath | None = None
"""Set when the configuration is JSON at ``info`` or below; ``None`` otherwise."""


def hot_line(logger: structlog.typing.FilteringBoundLogger, event: str, **fields: object) -> None:
    """Log ``event`` at ``info`` through ``logger``, as ``logger.info`` would.

    Under this module's JSON configuration the chain's steps are done here, in its
    order, and the line written through the shared writer: structlog's logger
    creation, binding, level dispatch and processor calls skipped, about half of a
    request line's cost (a test holds the two lines equal).  An event with
    ``exc_info`` goes through the chain itself; under any other configuration (the
    console, a level above ``info``, a test's capture) it is ``logger.info``.
    """
    hot = _HOT
    if hot is None or not hot.in_force():
        logger.info(event, **fields)
        return
    fields["event"] = event
    if "exc_info" in fields:
        line: Any = fields  # an event dict, then (the renderer's output) the JSON text
        for processor in hot.chain:
            line = processor(hot.logger, "info", line)
        hot.logger.msg(line)
        return
    for key, value in _PROCESS_FIELDS.items():
        fields.setdefault(key, value)
    fields["level"] = "info"
    hot.stamp(hot.logger, "info", fields)
    # What ``redact_secrets`` would leave as it is (plain keys, scalar values), told
    # by two loops in C; anything else goes through it.
    if not (
        fields.keys() <= _PLAIN_KEYS and all(map(_SCALARS.__contains__, map(type, fields.values())))
    ):
        redact_secrets(hot.logger, "info", fields)
    hot.logger.msg(_JSON.encode(fields))


class _StandardError:
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced later)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _SharedLogger:
    """A logger factory that hands out the same logger every time."""

    def __init__(self, logger: structlog.WriteLogger) -> None:
        self._logger = logger

    def __call__(self, *args: object) -> structlog.WriteLogger:
        return self._logger


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
    global _HOT
    out = stream if stream is not None else sys.stderr
    as_json = json if json is not None else not out.isatty()
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    stamp = _UtcStamp()
    processors: list[Processor] = [
        _add_process_fields,
        _add_level,
        stamp,
        redact_secrets,
        structlog.processors.format_exc_info,
        renderer,
    ]
    # One WriteLogger for every event: the default factory makes one (and looks up its
    # file's lock) each time a module-level logger is used.
    writer = structlog.WriteLogger(out if stream is not None else _StandardError())  # type: ignore[arg-type]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_SharedLogger(writer),
        cache_logger_on_first_use=False,
    )
    at_info = structlog.make_filtering_bound_logger(level).info is not _NOTHING_LOGGED
    _HOT = _HotPath(processors, stamp, writer) if as_json and at_info else None


_NOTHING_LOGGED = structlog.make_filtering_bound_logger("critical").info
"""What a filtering logger's ``info`` is at a level above ``info``."""


class LineSampler:
    """Bounds a kind of log line: at most ``per_window`` lines per key every
    ``interval_s``; the lines over it are counted, and the next line logged for the key
    carries that count.  Used where a remote party decides how many lines there are.

    It remembers at most ``REMEMBERED`` keys: past that, the windows that have ended are
    forgotten, and if every one is still open (more keys in one window than that), the
    quarter first seen longest ago is, whose next lines are then logged as a new key's
    (their count of lines not logged is lost).

    Args:
        interval_s: The window's length.
    """

    REMEMBERED = 10_000

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._windows: dict[str, list[float]] = {}
        """Per key: the window's start, lines logged in it, lines not logged since the
        last one logged."""

    def admit(self, key: str, per_window: int, now: float) -> int | None:
        """``None`` when this line is not to be logged; else the number of lines not
        logged for ``key`` since the last one that was."""
        window = self._windows.get(key)
        if window is None or now - window[0] >= self._interval:
            skipped = int(window[2]) if window is not None else 0
            if window is None and len(self._windows) >= self.REMEMBERED:
                self._forget_old(now)
                if len(self._windows) >= self.REMEMBERED:
                    # Every window still open: forget the keys first seen longest ago,
                    # a quarter of them, so the next look for ended windows is that
                    # many new keys away (not one per key).
                    keep = self.REMEMBERED * 3 // 4
                    self._windows = dict(
                        islice(self._windows.items(), len(self._windows) - keep, None)
                    )
            self._windows[key] = [now, 0, 0]
            window = self._windows[key]
            window[2] = skipped
        if window[1] >= per_window:
            window[2] += 1
            return None
        window[1] += 1
        skipped, window[2] = int(window[2]), 0
        return skipped

    def __len__(self) -> int:
        """The keys remembered now."""
        return len(self._windows)

    def _forget_old(self, now: float) -> None:
        self._windows = {k: w for k, w in self._windows.items() if now - w[0] < self._interval}
