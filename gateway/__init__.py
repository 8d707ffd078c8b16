"""The interlend daemon: listeners, terminal sessions, routing, circulation flows, CLI."""

from __future__ import annotations

__version__ = "0.1.0.dev0"
