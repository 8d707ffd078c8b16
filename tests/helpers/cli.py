"""The command line as a user runs it: ``python -m gateway`` in a process of its own
(JSON log lines on stderr), and the manifest ``interlend demo --manifest`` writes once
every listener is up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.helpers.polling import eventually_blocking

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ROOT", "read_manifest", "start_cli"]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the processes run there, as ``python -m gateway`` needs."""


def start_cli(
    *args: str,
    extra_env: dict[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.Popen[str]:
    """Start ``python -m gateway --log-format json ARGS`` with its output piped (text).

    Args:
        args: The command and its options.
        extra_env: Variables added to the test's environment.
        preexec_fn: Run in the child before the gateway (to lower a limit, say).
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "--log-format", "json", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


def read_manifest(path: Path, process: subprocess.Popen[str], *, timeout: float) -> dict[str, Any]:
    """The demo's manifest, once ``process`` has written it (it writes it whole, once
    its listeners are up); fails at once if the process ends first."""

    def written() -> bool:
        assert process.poll() is None, process.communicate()
        return path.exists()

    eventually_blocking(written, timeout=timeout, what=f"the demo to write {path.name}")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest
