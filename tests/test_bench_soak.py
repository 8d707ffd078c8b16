"""``bench/soak.py``'s own logic: the configuration it writes and how it judges answers.

The bench runs by hand (ten minutes, a thousand kiosks); these known-answer checks keep
it runnable as the example configuration and the gateway's screens change, without
running it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

from bench.soak import (
    ERROR_96,
    MEMBERS,
    OK,
    REFUSED,
    UNAVAILABLE,
    WRONG,
    _outcome,
    gateway_config,
    slope,
)
from config.loader import parse_config

if TYPE_CHECKING:
    from pathlib import Path

CHAIN = {
    "rpc_url": "http://127.0.0.1:8545",
    "chain_id": 31337,
    "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "deploy_block": 1,
}


def test_the_generated_configuration_loads_with_a_soak_terminal_per_member(
    tmp_path: Path,
) -> None:
    manifest = {"members": {m: {"sip2": {"port": 40001 + n}} for n, m in enumerate(MEMBERS)}}
    path, sip2, admin = gateway_config(tmp_path, manifest, "redis://127.0.0.1:41000/0", CHAIN)

    config, _, _ = parse_config(path)

    assert [listener.port for listener in config.gateway.sip2] == [sip2]
    assert config.gateway.admin is not None
    assert config.gateway.admin.port == admin
    assert config.gateway.state.url == "redis://127.0.0.1:41000/0"
    assert config.gateway.ledger.backend == "evm"
    assert config.gateway.ledger.contract == CHAIN["contract"]
    for n, member in enumerate(MEMBERS):
        node = config.nodes[member]
        assert node.ils.endpoints == (f"127.0.0.1:{40001 + n}",)
        assert f"{member}-soak" in [t.login for t in node.terminals]


@pytest.mark.parametrize(
    ("answer", "expected", "outcome"),
    [
        (b"121NNY20261204    120000AOalpha|AA1|AB2|AJt|AH20261225    120000|", b"12", OK),
        (b"120NUN20261204    120000AOalpha|AFItem is checked out to another|", b"12", REFUSED),
        (b"100YNN20261204    120000AObeta|AFBeta cannot be reached; please try again later|",
         b"10", UNAVAILABLE),
        (b"300NUN20261204    120000AOgamma|AFGamma is not answering; please try again later|",
         b"30", UNAVAILABLE),
        (b"24              00120261204    120000AOalpha|AA1|AEx|BLN|", b"24", REFUSED),
        (b"96", b"24", ERROR_96),
        (b"18030001", b"12", WRONG),
    ],
)  # fmt: skip
def test_answers_are_judged_as_the_kiosk_would(
    answer: bytes, expected: bytes, outcome: int
) -> None:
    assert _outcome(answer, expected) == outcome


def test_memory_per_loan_is_the_least_squares_slope() -> None:
    loans = [0.0, 100.0, 200.0, 300.0]
    used = [1_000_000.0 + 500 * n + (40 if i % 2 else -40) for i, n in enumerate(loans)]

    assert slope(loans, used) == pytest.approx(500, abs=1)
    assert math.isnan(slope([5.0, 5.0], [1.0, 2.0]))  # no spread of loans: no slope
