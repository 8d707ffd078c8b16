"""Loading the configuration for a one-shot command (``probe-ils``, ``reconcile``,
``ledger``, ``report usage|collection``).

The file is validated without requiring every secret (a command needs only some of
them); each secret that can be read is returned by its key path.  Failures are
printed as one line each on standard error, and the caller returns the status.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from config.consortium import Consortium
from config.errors import ConfigError, KeyPath
from config.loader import load_consortium, resolve_secrets

__all__ = ["Loaded", "fail", "load_configuration", "load_with_secrets"]


@dataclass(frozen=True)
class Loaded:
    """A configuration and the secrets that could be read."""

    consortium: Consortium
    secrets: dict[KeyPath, str]


def fail(message: str, status: int = 1) -> int:
    """Print ``interlend: message`` on standard error; returns ``status``."""
    print(f"interlend: {message}", file=sys.stderr)
    return status


def load_configuration(path: str) -> Loaded | int:
    """The configuration at ``path``, or the exit status after printing why not."""
    try:
        consortium = load_consortium(path, check_secrets=False)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return fail(f"{path}: the configuration has errors")
    found, _ = resolve_secrets(consortium)
    return Loaded(consortium, found)


def load_with_secrets(path: str) -> tuple[Consortium, dict[KeyPath, str]] | int:
    """``load_configuration`` as a pair, for callers that unpack it."""
    loaded = load_configuration(path)
    return loaded if isinstance(loaded, int) else (loaded.consortium, loaded.secrets)
