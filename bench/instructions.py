"""Instructions per request through the gateway, counted by valgrind: a cost that does
not move with the machine's load, for comparing two versions of the code.

Run by hand: ``.venv/bin/python bench/instructions.py [--tree DIR ...] [--requests 300]``.

Each tree (a checkout of this repository; the current one by default) runs
``interlend demo`` under ``valgrind --tool=callgrind`` with instrumentation off while
it starts.  Once the demo is up and a kiosk has logged in and sent a few warm-up
requests, instrumentation is switched on (``callgrind_control -i on``), one kiosk
sends ``--requests`` requests one after the other, and the counts are dumped.  The
demo process holds the simulated ILSs too, so a request's count includes the ILS's
share, the same in every tree; compare trees, not absolute figures.  Two workloads:

* ``local``: alpha's kiosk, alpha's patrons and items (patron status and item
  information alternating): the pass-through path.
* ``reciprocal``: beta's kiosk, alpha's patrons checking out beta's items (the PIN is
  checked at alpha, the loan recorded in the in-memory registry) and checking them
  in again: the gateway's own loan flow.

Wall-clock time under valgrind is meaningless; only the counts are reported.  The
kiosk side runs in this process, outside valgrind, from this tree.

The counts include what the demo does on timers while the requests run (health probes,
the embedded chain's blocks, session touches), and under valgrind a request takes about
fifty times longer, so timer work weighs more than it does at full speed: a difference
of a few per cent between trees can be timers, not requests.  Read it beside the Python
calls per request (``cProfile``, two runs of different lengths subtracted).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocols.sip2 import (
    CheckinRequest,
    CheckoutRequest,
    ItemInformationRequest,
    Language,
    LoginRequest,
    Message,
    PatronStatusRequest,
    encode,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WARM_UP = 20
START_TIMEOUT_S = 900.0


def _local(count: int) -> list[Message]:
    """Patron status and item information at alpha, alternating."""
    work: list[Message] = []
    for n in range(count):
        if n % 2 == 0:
            work.append(
                PatronStatusRequest(
                    language=Language.ENGLISH,
                    transaction_date=NOW,
                    institution_id="alpha",
                    patron_identifier=f"21001{(n % 20) + 1:09d}",
                    patron_password="1234",
                )
            )
        else:
            work.append(
                ItemInformationRequest(
                    transaction_date=NOW,
                    institution_id="alpha",
                    item_identifier=f"31001{(n % 40) + 1:09d}",
                )
            )
    return work


def _reciprocal(count: int) -> list[Message]:
    """Alpha patrons check out one of beta's items and check it in, over and over."""
    work: list[Message] = []
    for n in range(count):
        item = f"31002{(n // 2 % 10) + 1:09d}"
        if n % 2 == 0:
            work.append(
                CheckoutRequest(
                    sc_renewal_policy=True,
                    no_block=False,
                    transaction_date=NOW,
                    nb_due_date=NOW,
                    patron_identifier=f"21001{(n // 2 % 5) + 1:09d}",
                    item_identifier=item,
                    patron_password="1234",
                )
            )
        else:
            work.append(
                CheckinRequest(
                    no_block=False,
                    transaction_date=NOW,
                    return_date=NOW,
                    current_location="desk",
                    item_identifier=item,
                )
            )
    return work


WORKLOADS = {"local": ("alpha-kiosk", _local), "reciprocal": ("beta-kiosk", _reciprocal)}


class Kiosk:
    """One blocking SIP2 connection, one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=600)
        self.buffer = b""
        self.sequence = 0

    def ask(self, message: Message) -> bytes:
        self.sock.sendall(encode(message, sequence=self.sequence, error_detection=True))
        self.sequence = (self.sequence + 1) % 10
        while b"\r" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the gateway closed the connection")
            self.buffer += chunk
        frame, _, self.buffer = self.buffer.partition(b"\r")
        return frame


def _measured_total(dumps: list[Path]) -> int:
    """The instruction total of the dump taken on request (``--dump=measured``).

    The ``totals:`` line is read, not ``summary:``: in the dump written at exit, with
    instrumentation switched off, callgrind's summary can wrap below zero.
    """
    for dump in dumps:
        text = dump.read_text(encoding="utf-8", errors="replace")
        if "Trigger: dump measured" not in text:
            continue
        for line in text.splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no measured dump among {[d.name for d in dumps]}")


def _control(*arguments: object) -> None:
    subprocess.run(
        ["callgrind_control", *map(str, arguments)], check=True, stdout=subprocess.DEVNULL
    )


def measure(tree: Path, workload: str, requests: int, tmp: Path) -> tuple[int, list[bytes]]:
    """Instructions for ``requests`` requests of ``workload`` in the demo of ``tree``."""
    login, build = WORKLOADS[workload]
    manifest = tmp / f"manifest-{workload}.json"
    prefix = tmp / f"callgrind-{workload}"
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={prefix}.%p",
        sys.executable,
        "-m",
        "gateway",
        "--log-level",
        "warning",
        "demo",
        "--sip2-port",
        "0",
        "--admin-port",
        "0",
        "--ncip-port",
        "0",
        "--manifest",
        str(manifest),
    ]
    process = subprocess.Popen(
        command, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not manifest.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the demo in {tree} did not start")
            time.sleep(0.5)
        sip2 = json.loads(manifest.read_text(encoding="utf-8"))["sip2"]
        kiosk = Kiosk(sip2["host"], sip2["port"])
        answer = kiosk.ask(LoginRequest(login_user_id=login, login_password="demo"))
        if not answer.startswith(b"941"):
            raise RuntimeError(f"login refused: {answer!r}")
        for message in build(WARM_UP):
            kiosk.ask(message)
        work = build(requests)
        _control("-i", "on", process.pid)
        answers = [kiosk.ask(message)[:3] for message in work]
        _control("--dump=measured", process.pid)
        _control("-i", "off", process.pid)
        kiosk.sock.close()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    dumps = list(tmp.glob(f"callgrind-{workload}.{process.pid}*"))
    return _measured_total(dumps), answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tree", action="append", type=Path, help="a checkout to measure (repeatable)"
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"bench/instructions.py needs {tool} (Debian's valgrind)", file=sys.stderr)
            return 2
    trees = args.tree or [Path(__file__).resolve().parent.parent]
    workloads = args.workload or sorted(WORKLOADS)
    results: dict[str, dict[str, float]] = {}
    for workload in workloads:
        for tree in trees:
            with tempfile.TemporaryDirectory() as tmp_name:
                total, answers = measure(tree, workload, args.requests, Path(tmp_name))
            codes = sorted({a.decode()[:2] for a in answers})
            per_request = total / args.requests
            results.setdefault(workload, {})[str(tree)] = per_request
            print(
                f"{workload:10s} {tree}: {per_request / 1e6:7.2f} M instructions/request"
                f" (answers {', '.join(codes)})",
                flush=True,
            )
    if len(trees) > 1:
        first = str(trees[0])
        for workload, by_tree in results.items():
            for tree, value in by_tree.items():
                if tree != first:
                    print(f"{workload}: {tree} / {first} = {value / by_tree[first]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
