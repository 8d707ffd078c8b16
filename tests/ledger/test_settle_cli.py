"""Settlement rounds end to end: ``interlend ledger deploy`` and ``ledger settle …`` as an
operator runs them, and ``GET /api/settlements`` from a gateway, on anvil.

One registry deployed from the command line on the session's node: the consortium's
gateway (member ``hub``, a proposer) holds the keys that alpha and beta delegated to it;
gamma answers with its own key.  A full round with one dispute runs on the fresh
registry; the gateway is then restarted and the same, already deployed registry takes
the corrected round to agreement.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import structlog
import trio
from eth_account import Account
from web3.types import RPCEndpoint

from adapters.ledger.chain import RegistryClient
from adapters.ledger.connect import open_rpc
from adapters.ledger.merkle import InclusionProof, verify_inclusion
from gateway.app.daemon import Gateway
from gateway.cli.main import main
from tests.helpers.polling import eventually
from tests.helpers.services import dead_port
from tests.ledger.conftest import demo_without_ils, make_settlement_consortium, new_account

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from web3 import Web3

    from tests.helpers.services import AnvilNode

pytestmark = pytest.mark.slow

DEMO_TOML = Path(__file__).parents[2] / "config" / "demo.toml"
TIMEOUT = 60


def cli(*args: str) -> int:
    """``interlend …`` in this process; the logging configuration it sets is put back."""
    before = structlog.get_config()
    try:
        return main(["--log-level", "error", *args])
    finally:
        structlog.configure(**before)


def _statements(path: Path, gamma_charges: int) -> str:
    rows = [
        ("alpha", 12, 4, 30_500, 52_250),
        ("beta", 7, 9, 25_000, 32_250),
        ("gamma", 3, 9, gamma_charges, 12_000),
    ]
    path.write_text(
        json.dumps(
            [
                {
                    "period": "2026-11",
                    "library": library,
                    "currency": "EUR",
                    "loans_lent": lent,
                    "loans_borrowed": borrowed,
                    "charges": charges,
                    "credits": credits,
                }
                for library, lent, borrowed, charges, credits in rows
            ]
        ),
        encoding="utf-8",
    )
    return str(path)


DELEGATED = (
    'library_keys = { alpha = { env = "SETTLE_ALPHA_KEY" }, beta = { env = "SETTLE_BETA_KEY" } }\n'
)


def _config(
    tmp_path: Path,
    name: str,
    url: str,
    contract: str,
    block: int,
    key_env: str,
    library_keys: str = DELEGATED,
) -> str:
    text = demo_without_ils()
    text += f"""
[gateway]
admin = {{ port = 0 }}
patron_key_secret = {{ env = "SETTLE_TEST_PATRON_SECRET" }}

[[gateway.sip2]]
port = 0

[gateway.ledger]
backend = "evm"
rpc_url = "{url}"
contract = "{contract}"
deploy_block = {block}
key = {{ env = "{key_env}" }}
batch_interval_s = 0.2
{library_keys}"""
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@contextlib.asynccontextmanager
async def _serving(config: str) -> AsyncIterator[Callable[[], Awaitable[dict[str, Any]]]]:
    """A gateway started from ``config`` for the block: yields a reader of its
    ``/api/settlements`` (once it is connected to its chain); stopped on the way out."""
    gateway = Gateway.from_file(config, handle_signals=False)
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=10) as http:
        bound = await nursery.start(gateway.run)

        async def connected() -> httpx.Response | None:
            answer = await http.get(f"{bound.admin}/api/settlements")
            waiting = answer.status_code == 503 and "not connected" in answer.text
            return None if waiting else answer

        async def read() -> dict[str, Any]:
            answer = await eventually(connected, what="the gateway connected to its chain")
            assert answer.status_code == 200, answer.text
            data: dict[str, Any] = answer.json()
            return data

        yield read
        nursery.cancel_scope.cancel()


async def test_a_round_from_the_command_line_then_again_after_a_restart(
    tmp_path: Path,
    w3: Web3,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Propose, two delegated acknowledgements, a dispute with the library's own key,
    every refusal in one line; the status proves each statement; a restarted gateway
    serves the rounds of the registry it finds, and the corrected round is agreed."""
    url = str(getattr(w3.provider, "endpoint_uri", ""))
    keys = {m: new_account(w3) for m in ("hub", "alpha", "beta", "gamma")}
    deployer = new_account(w3)
    for name, value in {
        "SETTLE_DEPLOYER": deployer.key.hex(),
        "SETTLE_HUB_KEY": keys["hub"].key.hex(),
        "SETTLE_ALPHA_KEY": keys["alpha"].key.hex(),
        "SETTLE_BETA_KEY": keys["beta"].key.hex(),
        "SETTLE_GAMMA_KEY": keys["gamma"].key.hex(),
        "SETTLE_OUTSIDER_KEY": Account.create().key.hex(),
        "SETTLE_TEST_PATRON_SECRET": "a patron secret for the settlement tests",
        "INTERLEND_DEMO_ILS_PASSWORD": "pw",
        "INTERLEND_DEMO_NCIP_KEY": "key",
    }.items():
        monkeypatch.setenv(name, value)

    async def run(*args: str) -> tuple[int, str, str]:
        status = await trio.to_thread.run_sync(lambda: cli(*args))
        out, err = capsys.readouterr()
        return status, out, err

    with trio.fail_after(TIMEOUT):
        members = [f for m, k in keys.items() for f in ("--member", f"{m}:{k.address}")]
        status, out, _ = await run(
            "ledger", "deploy", "--rpc", url, "--key-env", "SETTLE_DEPLOYER",
            *members, "--proposer", "hub", "--dispute-window", "1h",
        )  # fmt: skip
        assert status == 0
        assert "# hub may propose settlement rounds" in out
        assert "stay open for answers 3600 s" in out
        assert (
            '# library_keys = { alpha = { env = "INTERLEND_KEY_ALPHA" }, '
            'beta = { env = "INTERLEND_KEY_BETA" } }' in out
        )
        contract = next(ln.split('"')[1] for ln in out.splitlines() if ln.startswith("contract"))
        block = int(next(ln.split()[-1] for ln in out.splitlines() if ln.startswith("deploy_")))
        hub = _config(tmp_path, "hub", url, contract, block, "SETTLE_HUB_KEY")
        alpha_only = _config(tmp_path, "alpha", url, contract, block, "SETTLE_ALPHA_KEY")
        first = _statements(tmp_path / "first.json", 41_000)
        settle = ("ledger", "settle")
        period = ("--config", hub, "--period", "2026-11")

        status, out, _ = await run(*settle, "propose", *period, "--statements", first)
        assert status == 0
        assert "proposed 2026-11 (revision 1) as hub: 3 statements (alpha, beta, gamma)" in out
        status, _, err = await run(
            *settle, "propose", "--config", alpha_only, "--period", "2026-11",
            "--statements", first,
        )  # fmt: skip
        assert (status, err) == (1, "interlend: alpha may not propose settlement rounds "
                                 "(proposers are allowed by a members' vote)\n")  # fmt: skip
        status, _, err = await run(*settle, "propose", *period, "--statements", first)
        assert status == 1
        assert "the round of 2026-11 is already open" in err

        for library in ("alpha", "beta"):
            status, out, _ = await run(
                *settle, "acknowledge", *period, "--statements", first, "--library", library
            )
            assert status == 0
            gas = int(out.split("(")[1].split()[0])
            assert gas < 60_000
        status, _, err = await run(
            *settle, "acknowledge", *period, "--statements", first, "--library", "beta"
        )
        assert (status, err) == (
            1,
            "interlend: beta has already answered the round of 2026-11 (acknowledged)\n",
        )
        tampered = _statements(tmp_path / "tampered.json", 40_000)
        status, _, err = await run(
            *settle, "acknowledge", *period, "--statements", tampered, "--library", "gamma",
            "--key-env", "SETTLE_GAMMA_KEY",
        )  # fmt: skip
        assert status == 1
        assert "the statements do not give the root proposed for 2026-11" in err
        status, _, err = await run(
            *settle, "dispute", *period, "--reason", "amounts", "--library", "gamma",
            "--key-env", "SETTLE_OUTSIDER_KEY",
        )  # fmt: skip
        assert (status, err.count("\n")) == (1, 1)
        assert err == "interlend: the key used for gamma is not a member's key on chain\n"
        status, _, err = await run(
            *settle, "dispute", *period, "--reason", "amounts", "--library", "delta"
        )
        assert status == 1
        assert "no key for delta: add it under [gateway.ledger.library_keys]" in err
        status, out, _ = await run(
            *settle, "dispute", *period, "--reason", "amounts", "--library", "gamma",
            "--key-env", "SETTLE_GAMMA_KEY",
        )  # fmt: skip
        assert status == 0
        assert "gamma disputed its statement for 2026-11: amounts" in out

        status, out, _ = await run(*settle, "status", "--config", hub, "--period", "2026-01")
        assert (status, out) == (0, "2026-01: no settlement round proposed\n")
        status, out, _ = await run(*settle, "status", *period, "--statements", first, "--json")
        assert status == 0
        shown = json.loads(out)
        assert (shown["state"], shown["acknowledged"], shown["disputed"]) == ("open", 2, 1)
        assert shown["statements_match"] is True
        answers = {
            library: {k: v for k, v in shown.items() if k not in ("leaf_hash", "proof")}
            for library, shown in shown["libraries"].items()
        }
        assert answers == {
            "alpha": {"answer": "acknowledged", "proven": True},
            "beta": {"answer": "acknowledged", "proven": True},
            "gamma": {"answer": "disputed", "reason": "amounts", "proven": True},
        }
        root = bytes.fromhex(shown["root"][2:])
        for given in shown["libraries"].values():  # each proof stands on its own
            leaf = bytes.fromhex(given["leaf_hash"][2:])
            assert verify_inclusion(leaf, InclusionProof.from_json(given["proof"]), root)

        # The gateway serves the round; past the window (the node's clock moved on, no
        # waiting) a restarted gateway finds it closed, disputed, on the same registry.
        async with _serving(hub) as read:
            api = await read()
        assert api["proposers"] == ["hub"]
        assert api["dispute_window_s"] == 3600
        [listed] = api["rounds"]
        assert listed["state"] == "open"
        assert listed["libraries"]["gamma"] == {"answer": "disputed", "reason": "amounts"}
        assert listed["libraries"]["hub"] == {"answer": "none"}
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [3601])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        async with _serving(hub) as read:
            [listed] = (await read())["rounds"]
            assert (listed["state"], listed["revision"]) == ("disputed", 1)
            await _agree_on_the_correction(tmp_path, run, settle, period)
            [listed] = (await read())["rounds"]
            assert (listed["state"], listed["acknowledged"]) == ("agreed", 3)


async def _agree_on_the_correction(
    tmp_path: Path,
    run: Callable[..., Awaitable[tuple[int, str, str]]],
    settle: tuple[str, ...],
    period: tuple[str, ...],
) -> None:
    """Propose the corrected statements (revision 2); every library acknowledges."""
    corrected = _statements(tmp_path / "corrected.json", 39_000)
    status, out, _ = await run(*settle, "propose", *period, "--statements", corrected)
    assert status == 0
    assert "(revision 2)" in out
    for library, key in (
        ("alpha", ()),
        ("beta", ()),
        ("gamma", ("--key-env", "SETTLE_GAMMA_KEY")),
    ):
        status, _, _ = await run(
            *settle, "acknowledge", *period, "--statements", corrected, "--library", library,
            *key,
        )  # fmt: skip
        assert status == 0
    status, out, _ = await run(*settle, "status", *period, "--statements", corrected)
    assert status == 0
    assert out.startswith("2026-11: agreed (revision 2), 3 of 3 acknowledged, 0 disputed")
    assert "the statements give this root" in out


def test_bad_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong period, a statements file that is not one, or a ledger that is not on a
    chain of its own: one line and a non-zero exit, before any chain is asked."""
    config = tmp_path / "embedded.toml"
    config.write_text(DEMO_TOML.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    base = ("ledger", "settle", "status", "--config", str(config))
    assert cli(*base, "--period", "2026-13") == 2
    assert capsys.readouterr().err.startswith("interlend: '2026-13' is not a real date")
    assert cli(*base, "--period", "2026-11") == 1
    assert 'settlement rounds need gateway.ledger.backend = "evm"' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli("ledger", "settle", "dispute", "--config", str(config), "--period", "2026-11",
            "--reason", "because")  # fmt: skip
    assert "invalid choice: 'because'" in capsys.readouterr().err
    assert cli("ledger", "deploy", "--rpc", "http://127.0.0.1:1", "--key-env", "X",
               "--dispute-window", "0") == 2  # fmt: skip
    assert "is not a duration of 1 s to 365 d" in capsys.readouterr().err
    assert cli("ledger", "deploy", "--rpc", "http://127.0.0.1:1", "--key-env", "X",
               "--proposer", "hub") == 2  # fmt: skip
    assert "--proposer hub: not among the --member given" in capsys.readouterr().err


def test_a_single_member_deployment_settles_with_its_one_key(
    tmp_path: Path, w3: Web3, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Migration: a deployment where one gateway is the only member (the configuration
    as it was, with no library keys) proposes and acknowledges its own statement."""
    url = str(getattr(w3.provider, "endpoint_uri", ""))
    deployer, gateway = new_account(w3), new_account(w3)
    monkeypatch.setenv("SETTLE_DEPLOYER", deployer.key.hex())
    monkeypatch.setenv("SETTLE_ONE_KEY", gateway.key.hex())
    monkeypatch.setenv("SETTLE_TEST_PATRON_SECRET", "a patron secret for the settlement tests")
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    assert cli(
        "ledger", "deploy", "--rpc", url, "--key-env", "SETTLE_DEPLOYER",
        "--member", f"consortium:{gateway.address}", "--proposer", "consortium",
    ) == 0  # fmt: skip
    out = capsys.readouterr().out
    contract = next(ln.split('"')[1] for ln in out.splitlines() if ln.startswith("contract"))
    config = _config(tmp_path, "one", url, contract, 0, "SETTLE_ONE_KEY", library_keys="")
    statements = tmp_path / "one.json"
    statements.write_text(
        json.dumps([{
            "period": "2026-11", "library": "consortium", "currency": "EUR",
            "loans_lent": 40, "loans_borrowed": 40, "charges": 0, "credits": 0,
        }]),
        encoding="utf-8",
    )  # fmt: skip
    args = ("--config", config, "--period", "2026-11", "--statements", str(statements))
    assert cli("ledger", "settle", "propose", *args) == 0
    assert cli("ledger", "settle", "acknowledge", *args) == 0
    assert "consortium acknowledged its statement for 2026-11" in capsys.readouterr().out
    assert cli("ledger", "settle", "status", *args) == 0
    assert capsys.readouterr().out.startswith("2026-11: agreed (revision 1), 1 of 1")


def test_members_vote_the_window_and_the_proposers(
    tmp_path: Path, w3: Web3, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ledger govern`` proposes a change or votes for the open proposal of the same
    change; it passes with more than half of the four members."""
    url = str(getattr(w3.provider, "endpoint_uri", ""))
    keys = {m: new_account(w3) for m in ("hub", "alpha", "beta", "gamma")}
    deployer = new_account(w3)
    monkeypatch.setenv("SETTLE_DEPLOYER", deployer.key.hex())
    monkeypatch.setenv("SETTLE_TEST_PATRON_SECRET", "a patron secret for the settlement tests")
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    members = [f for m, k in keys.items() for f in ("--member", f"{m}:{k.address}")]
    assert cli("ledger", "deploy", "--rpc", url, "--key-env", "SETTLE_DEPLOYER", *members) == 0
    out = capsys.readouterr().out
    contract = next(ln.split('"')[1] for ln in out.splitlines() if ln.startswith("contract"))
    configs = {}
    for member in ("hub", "alpha", "beta"):
        monkeypatch.setenv(f"SETTLE_{member.upper()}_OWN", keys[member].key.hex())
        configs[member] = _config(
            tmp_path, member, url, contract, 0, f"SETTLE_{member.upper()}_OWN", library_keys=""
        )

    def govern(member: str, *change: str) -> str:
        assert cli("ledger", "govern", "--config", configs[member], *change) == 0
        return capsys.readouterr().out

    assert "not passed yet: proposal #0 to set the dispute window to 7200 s has 1 yes" in (
        govern("hub", "--window", "2h")
    )
    assert "1 yes vote(s) of 4" in govern("alpha", "--allow-proposer", "alpha")
    assert "has 2 yes vote(s) of 4" in govern("alpha", "--window", "2h")
    assert "alpha has already voted for proposal #0" in govern("alpha", "--window", "2h")
    assert "passed: proposal #0 to set the dispute window to 7200 s" in (
        govern("beta", "--window", "2h")
    )
    govern("hub", "--allow-proposer", "alpha")
    assert "passed: proposal #1 to allow alpha to propose" in (
        govern("beta", "--allow-proposer", "alpha")
    )
    reader = RegistryClient(w3, contract)
    assert (reader.dispute_window(), reader.is_proposer("alpha")) == (7200, True)
    assert cli("ledger", "govern", "--config", configs["hub"], "--window", "soon") == 2
    assert "--window 'soon' is not a duration" in capsys.readouterr().err


async def test_the_api_says_when_the_chain_cannot_be_read(
    tmp_path: Path, own_anvil: AnvilNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/api/settlements`` answers 503 with the reason while the gateway has not reached
    its chain, and when the node stops answering."""
    rpc = open_rpc(own_anvil.url, timeout_s=2.0)
    settled = make_settlement_consortium(rpc.w3)
    deployment = settled.consortium.deployment
    monkeypatch.setenv("SETTLE_HUB_OWN", settled.consortium.keys["hub"].key.hex())
    monkeypatch.setenv("SETTLE_TEST_PATRON_SECRET", "a patron secret for the settlement tests")
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    config = _config(
        tmp_path, "hub", own_anvil.url, deployment.address, deployment.block_number,
        "SETTLE_HUB_OWN", library_keys="",
    )  # fmt: skip
    nowhere = _config(
        tmp_path, "nowhere", f"http://127.0.0.1:{dead_port()}", deployment.address, 0,
        "SETTLE_HUB_OWN", library_keys="",
    )  # fmt: skip
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=10) as http:
            unreachable = await nursery.start(Gateway.from_file(nowhere, handle_signals=False).run)
            waiting = await http.get(f"{unreachable.admin}/api/settlements")
            gateway = Gateway.from_file(config, handle_signals=False)
            bound = await nursery.start(gateway.run)

            async def served() -> httpx.Response | None:
                answer = await http.get(f"{bound.admin}/api/settlements")
                return answer if answer.status_code == 200 else None

            assert (await eventually(served)).json()["proposers"] == ["hub"]
            await trio.to_thread.run_sync(own_anvil.stop)
            down = await http.get(f"{bound.admin}/api/settlements")
            nursery.cancel_scope.cancel()
    rpc.close()
    assert waiting.status_code == 503
    assert waiting.json() == {"error": "not connected to the ledger's chain yet"}
    assert down.status_code == 503
    assert down.json()["error"] == (
        f"the chain node at {own_anvil.url} is unavailable: connection refused"
    )
