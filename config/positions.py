"""Where each key of a TOML file stands, so errors can name a line and column.

``tomllib`` parses but forgets positions.  ``index_positions`` scans the text once more
(only files that already parsed, so the syntax is known to be valid) and records the
line and column of every table header and every ``key =`` line, under the key path
pydantic reports errors with: ``("nodes", "alpha", "terminals", 0, "login")``.

``locate`` then finds the longest recorded prefix of an error's path: an error inside
an inline table or a multi-line array points at the line of the key that holds it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .errors import KeyPath

__all__ = ["PositionIndex", "index_positions"]

Position = tuple[int, int]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _parse_key(text: str) -> tuple[tuple[str, ...], int]:
    """Parse a dotted key at the start of ``text``; return its parts and length."""
    parts: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] in "\"'":
            quote = text[i]
            end = i + 1
            while end < len(text) and text[end] != quote:
                end += 2 if text[end] == "\\" and quote == '"' else 1
            parts.append(text[i + 1 : end].replace('\\"', '"'))
            i = end + 1
        else:
            match = _BARE_KEY.match(text, i)
            if match is None:
                break
            parts.append(match.group())
            i = match.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == ".":
            i += 1
            continue
        break
    return tuple(parts), i


def _open_brackets(value: str) -> int:
    """Net ``[``/``{`` opened by a value line, ignoring strings and comments."""
    depth = 0
    quote = ""
    i = 0
    while i < len(value):
        char = value[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        i += 1
    return depth


class PositionIndex:
    """Key paths of one file and their (line, column), both 1-based."""

    def __init__(self, file: str, positions: dict[KeyPath, Position]) -> None:
        self.file = file
        self.positions = positions

    def locate(self, path: KeyPath) -> Position | None:
        """The position of ``path``, or of its longest prefix that has one."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None


def index_positions(file: str, text: str) -> PositionIndex:
    """Index the key positions of a TOML document that is known to parse."""
    positions: dict[KeyPath, Position] = {}
    arrays: dict[tuple[str, ...], int] = {}
    table: KeyPath = ()
    depth = 0
    multiline = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if multiline:
            if multiline in line:
                multiline = ""
            continue
        if depth > 0:
            depth += _open_brackets(line)
            continue
        stripped = line.lstrip()
        column = len(line) - len(stripped) + 1
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            key, _ = _parse_key(stripped[2:])
            arrays[key] = arrays.get(key, -1) + 1
            table = (*_with_indexes(key[:-1], arrays), key[-1], arrays[key])
            positions.setdefault(table, (number, column))
            continue
        if stripped.startswith("["):
            key, _ = _parse_key(stripped[1:])
            table = _with_indexes(key, arrays)
            positions.setdefault(table, (number, column))
            continue
        key, length = _parse_key(stripped)
        if not key:
            continue
        positions.setdefault((*table, *key), (number, column))
        value = stripped[length:].lstrip()[1:].lstrip()  # after "="
        for fence in ('"""', "'''"):
            if value.startswith(fence) and value.count(fence) == 1:
                multiline = fence
        if not multiline:
            depth = max(0, _open_brackets(value))
    return PositionIndex(file, positions)


def _with_indexes(key: tuple[str, ...], arrays: dict[tuple[str, ...], int]) -> KeyPath:
    """Insert the current element index after each array-of-tables prefix of ``key``."""
    path: list[str | int] = []
    for end in range(1, len(key) + 1):
        path.append(key[end - 1])
        if key[:end] in arrays and end < len(key):
            path.append(arrays[key[:end]])
    return tuple(path)
