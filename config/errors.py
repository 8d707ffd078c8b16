"""Configuration errors: what is wrong, where, and what to do about it.

Every problem found in a configuration becomes a ``ConfigIssue`` with the key path
(``nodes.alpha.circulation.loan_cap_per_owner``), the file, line and column where the
key stands when that is known, a message and a hint.  Loading collects every issue it
can find before giving up, so an operator fixes a file in one pass; they arrive
together in one ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["ConfigError", "ConfigIssue", "KeyPath", "format_path"]

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("nodes", "alpha", "terminals", 0, "login")`` → ``nodes.alpha.terminals[0].login``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration."""

    path: KeyPath
    message: str
    hint: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def located(self, file: str, line: int | None, column: int | None) -> ConfigIssue:
        """The same issue with its position in a file."""
        return ConfigIssue(self.path, self.message, self.hint, file, line, column)

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {format_path(self.path) + ': ' if self.path else ''}{self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


@dataclass
class ConfigError(Exception):
    """A configuration that cannot be used, with every issue found in it."""

    issues: Sequence[ConfigIssue] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    @classmethod
    def of(cls, issues: Iterable[ConfigIssue]) -> ConfigError:
        """An error holding these issues, sorted by file and position."""
        return cls(
            sorted(issues, key=lambda i: (i.file or "", i.line or 0, i.column or 0, str(i.path)))
        )

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)
