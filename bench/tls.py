"""What TLS costs a SIP2 connection: connecting and logging in, and round trips.

Run by hand: ``.venv/bin/python bench/tls.py [--rounds 5] [--connects 200] [--requests 2000]``.

One process runs the simulated alpha ILS twice (``serve_simulator``, plain and over TLS
with a certificate from a test CA made here by ``trustme``; ECDSA P-256, TLS 1.3) and
the gateway's own SIP2 client (``Sip2Link``) against each, on loopback:

* **connect + login**: ``--connects`` times in a row, open a link (TCP connect; for TLS
  the handshake with the server's certificate verified), log in (93/94), close it;
* **round trips**: on one logged-in link, ``--requests`` SC status requests (99/98),
  each sent once the previous answer has arrived.

Client and server share the process (and the machine's two cores with other jobs), so
absolute rates move from run to run; plain and TLS take turns, round after round, and
the report gives each one's median and the median of the per-round ratios TLS/plain.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio
import trustme

from adapters.ils.sip2_link import Credentials, Endpoint, Sip2Link
from adapters.tls import client_context
from config.models import TlsSettings
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.sip2_server import serve_simulator
from gateway.telemetry.logs import configure_logging
from protocols.sip2 import Dialect, ErrorDetection, ScStatus

if TYPE_CHECKING:
    import ssl

PASSWORD = "bench"
CREDENTIALS = Credentials("gateway", PASSWORD)


async def _open(endpoint: Endpoint, context: ssl.SSLContext | None) -> Sip2Link:
    return await Sip2Link.open(
        "alpha",
        endpoint,
        Dialect(),
        ErrorDetection.AUTO,
        CREDENTIALS,
        ssl_context=context,
    )


async def connects_per_s(endpoint: Endpoint, context: ssl.SSLContext | None, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        link = await _open(endpoint, context)
        await link.aclose()
    return count / (time.perf_counter() - started)


async def round_trips_per_s(
    endpoint: Endpoint, context: ssl.SSLContext | None, count: int
) -> float:
    link = await _open(endpoint, context)
    try:
        started = time.perf_counter()
        for _ in range(count):
            await link.request(ScStatus(max_print_width=0))
        return count / (time.perf_counter() - started)
    finally:
        await link.aclose()


async def main(rounds: int, connects: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1")
        cert, key, ca_file = (Path(folder) / name for name in ("ils.pem", "ils.key", "ca.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(ca_file))
        context = client_context(ca_file)
        async with trio.open_nursery() as nursery:
            ils = SimulatedIls(packaged_library("alpha"), PASSWORD)
            _, plain_port = await nursery.start(partial(serve_simulator, ils))
            _, tls_port = await nursery.start(
                partial(serve_simulator, ils, tls=TlsSettings(cert=cert, key=key))
            )
            plain = Endpoint("127.0.0.1", plain_port)
            secure = Endpoint("127.0.0.1", tls_port, tls=True)
            await connects_per_s(plain, None, 20)  # warm up
            await connects_per_s(secure, context, 20)
            figures: dict[str, list[float]] = {
                k: [] for k in ("connect plain", "connect tls", "trips plain", "trips tls")
            }
            for index in range(rounds):
                order: list[tuple[str, Endpoint, ssl.SSLContext | None]] = [
                    ("plain", plain, None),
                    ("tls", secure, context),
                ]
                for name, endpoint, ctx in order if index % 2 == 0 else order[::-1]:
                    figures[f"connect {name}"].append(await connects_per_s(endpoint, ctx, connects))
                    figures[f"trips {name}"].append(
                        await round_trips_per_s(endpoint, ctx, requests)
                    )
            nursery.cancel_scope.cancel()
    for what, unit in (("connect", "connect + login + close/s"), ("trips", "round trips/s")):
        plain_rates, tls_rates = figures[f"{what} plain"], figures[f"{what} tls"]
        ratios = [t / p for t, p in zip(tls_rates, plain_rates, strict=True)]
        print(
            f"{unit:>26}: plain {statistics.median(plain_rates):8.0f}   "
            f"tls {statistics.median(tls_rates):8.0f}   "
            f"tls/plain {statistics.median(ratios):.2f}  ({rounds} rounds)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connects", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    configure_logging(level="warning", json=False)  # no line per connection while timing
    trio.run(main, args.rounds, args.connects, args.requests)
