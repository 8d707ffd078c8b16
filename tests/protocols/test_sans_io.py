"""The protocol package is sans-I/O: importing it loads no I/O framework."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("trio", "anyio", "asyncio", "socket", "coredis", "httpx", "structlog", "pydantic")


def test_importing_protocols_loads_no_io_library() -> None:
    """A fresh interpreter that imports the SIP2 codec has none of the I/O modules."""
    script = (
        "import sys, protocols, protocols.sip2, protocols.sip2.samples\n"
        f"loaded = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
