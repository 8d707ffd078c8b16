"""The JSON log lines of a process a test started, read as they come.

A thread reads the process's standard error line by line into a list (so the pipe never
fills and blocks the process); ``wait_for`` polls that list with a bound, for a line
with the given event and fields, and hands the line back.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from tests.helpers.polling import eventually_blocking

if TYPE_CHECKING:
    import subprocess

__all__ = ["LogTail"]


class LogTail:
    """The log lines of ``process`` (its stderr, opened as text)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        with stream:
            self._read_lines(stream)

    def _read_lines(self, stream: Any) -> None:
        for line in stream:
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = {"event": line.rstrip("\n")}
            with self._lock:
                self.raw.append(line)
                self.lines.append(parsed if isinstance(parsed, dict) else {"event": line})

    def matching(self, event: str, **fields: object) -> list[dict[str, Any]]:
        """The lines read so far with this event and these fields."""
        with self._lock:
            return [
                line
                for line in self.lines
                if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
            ]

    def wait_for(
        self, event: str, *, count: int = 1, timeout: float = 30, **fields: object
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` lines with this event and these fields were read;
        returns them (fails at once if the process exits first)."""

        def seen() -> list[dict[str, Any]] | None:
            found = self.matching(event, **fields)
            if len(found) >= count:
                return found
            assert self.process.poll() is None or self._thread.is_alive(), self.text()
            return None

        return eventually_blocking(seen, timeout=timeout, what=f"log line {event!r} {fields}")

    def text(self) -> str:
        """Everything read so far (for failure messages)."""
        with self._lock:
            return "".join(self.raw)

    def join(self, timeout: float = 10) -> None:
        """Wait until the process's stderr is closed and read."""
        self._thread.join(timeout)
