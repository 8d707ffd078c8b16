"""docs/operations.md names only metrics, log lines and commands that exist.

An operator copies alert rules and commands from that page; a renamed metric or a
removed command must fail here, not in production.  Commands the page names as not
existing yet must still not exist (when one is added, the page has to say how to use
it instead).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.telemetry.metrics import Metrics

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "operations.md"
SOURCES = ("gateway", "adapters", "config")

NOT_YET = {("ledger", "bump"), ("ledger", "shred")}
"""Commands the page says do not exist yet."""


@cache
def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


@cache
def _source() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for folder in SOURCES
        for path in sorted((ROOT / folder).rglob("*.py"))
    )


def _metric_names() -> set[str]:
    names = {metric.name for metric in Metrics().registry.collect()}
    names |= set(re.findall(r'count_from\(\s*"(interlend_\w+)"', _source()))
    return names


def test_every_metric_named_exists() -> None:
    """Each ``interlend_…`` name on the page is a metric the gateway exports."""
    named = set(re.findall(r"\binterlend_[a-z0-9_]+[a-z0-9]", _doc()))
    assert named, "the page names metrics"
    assert named - _metric_names() == set()


_LOG_LIST = re.compile(
    r"(?:log(?: lines?)?|the log says|logs) ((?:`[^`]+`(?:,? and |,? or |, )?)+)"
)


def _log_lines() -> set[str]:
    found: set[str] = set()
    text = " ".join(_doc().split())
    for listed in _LOG_LIST.findall(text):
        found |= set(re.findall(r"`([^`]+)`", listed))
    return found


def test_every_log_line_named_exists() -> None:
    """Each log line the page tells to watch is an event the code logs, word for word."""
    lines = _log_lines()
    assert len(lines) >= 10, lines
    source = " ".join(_source().split())
    missing = {line for line in lines if f'"{line}' not in source}
    assert missing == set()


def _commands() -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for first, second in re.findall(r"\binterlend ([a-z][a-z-]+)(?: ([a-z][a-z-]+))?", _doc()):
        found.add((first, second) if first == "ledger" else (first,))
    return found


def _exists(words: tuple[str, ...]) -> bool:
    with pytest.raises(SystemExit) as exited:
        main([*words, "--help"])
    return exited.value.code == 0


def test_every_command_named_exists(capsys: pytest.CaptureFixture[str]) -> None:
    """Each ``interlend COMMAND`` on the page runs (its --help), except those it says
    do not exist yet, which must indeed not exist."""
    commands = _commands()
    assert {("probe-ils",), ("reconcile",), ("ledger", "verify")} <= commands
    for words in sorted(commands):
        assert _exists(words) is (words not in NOT_YET), words
    capsys.readouterr()
