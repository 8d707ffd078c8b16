"""The ledger worker on a real chain (anvil) and a real Redis: gateways anchoring their
outboxes, proofs through the CLI and the admin API, a node outage, a crash, a
non-member key, tampering."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import coredis
import httpx
import pytest
import structlog
import trio
import trio.testing
from eth_account import Account
from structlog.testing import capture_logs

from adapters.ledger.chain import (
    ZERO_ROOT,
    ChainUnavailable,
    RegistryClient,
    member_id_bytes,
)
from adapters.ledger.connect import ChainLink, open_rpc
from adapters.ledger.records import seal
from adapters.state.base import BatchEntry, LoanRequest, PendingBatch, Reservation
from adapters.state.memory import MemoryStateStore
from adapters.state.receipts import decode_receipt, encode_receipt
from adapters.state.redis import RedisStateStore
from config.models import LedgerSettings, SecretRef
from gateway.app.daemon import Gateway
from gateway.cli.main import main
from gateway.ledger.proof import ProofStatus, prove_loan
from gateway.ledger.worker import LedgerWorker
from gateway.runtime.rules import derived_record_key
from tests.helpers.polling import eventually
from tests.ledger.conftest import (
    RECORD_KEY,
    Consortium,
    demo_without_ils,
    make_consortium,
    new_account,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, MutableMapping

    from adapters.state.base import Loan, StateBackend
    from tests.helpers.services import AnvilNode

pytestmark = pytest.mark.slow

DEMO_TOML = Path(__file__).parents[2] / "config" / "demo.toml"
PATRON_SECRET = "patron secret shared by the test gateways"
TIMEOUT = 30


# ---- helpers ----------------------------------------------------------------------------


async def lend(store: StateBackend, item: str, *, owner: str = "beta", home: str = "alpha") -> Loan:
    """A committed reciprocal loan of ``item``."""
    now = datetime.now(UTC)
    request = LoanRequest(
        owner=owner,
        home=home,
        item=item,
        patron_key=f"{uuid.uuid4().hex}",
        proxy_patron=f"ILL-{home}",
        terminal=f"{owner}-kiosk",
        idempotency_key=uuid.uuid4().hex,
        cap_at_owner=None,
        cap_total=None,
    )
    held = await store.reserve(request, now=now)
    assert isinstance(held, Reservation)
    return await store.commit(held, due=now + timedelta(days=21), now=now)


async def lend_renew_return(store: StateBackend, item: str, **kwargs: str) -> Loan:
    """A loan with all three events: checkout, renewal, checkin."""
    loan = await lend(store, item, **kwargs)
    now = datetime.now(UTC)
    await store.renew(loan.owner, item, due=now + timedelta(days=28), now=now)
    closed = await store.close(loan.owner, item, now=now)
    assert closed is not None
    return closed


async def drained(store: StateBackend) -> None:
    """Wait until every outbox event is acknowledged (anchored)."""

    async def empty() -> bool:
        return not await store.outbox_pending()

    await eventually(empty, timeout=TIMEOUT, what="the outbox to be drained")


async def counted(worker: LedgerWorker, events: int) -> None:
    """Wait until ``worker`` has counted ``events`` anchored events (it counts a batch
    just after acknowledging it: an empty outbox comes a moment before)."""
    await eventually(
        lambda: worker.statistics().events_anchored >= events,
        timeout=TIMEOUT,
        what=f"{events} events to be counted as anchored",
    )


async def anchored(gateway: Gateway, events: int) -> None:
    """Wait until the gateway's ledger worker has counted ``events`` anchored events."""
    worker = gateway.ledger_worker
    assert worker is not None
    await counted(worker, events)


async def failed(worker: LedgerWorker) -> str:
    """The worker's error, once it has one."""
    return await eventually(lambda: worker.statistics().last_error, timeout=TIMEOUT)


def node_url(consortium: Consortium) -> str:
    """The JSON-RPC URL of the consortium's node."""
    uri: object = getattr(consortium.w3.provider, "endpoint_uri", None)
    assert isinstance(uri, str)
    return uri


def settings(consortium: Consortium, **changes: Any) -> LedgerSettings:
    """evm settings for ``consortium``'s registry (tests substitute the connection)."""
    base = LedgerSettings(
        backend="evm",
        rpc_url="http://127.0.0.1:1",
        contract=consortium.deployment.address,
        key=SecretRef(env="UNUSED_IN_WORKER_TESTS"),
        batch_size=4,
        batch_interval_s=0.1,
    )
    return base.model_copy(update=changes)


def worker(
    consortium: Consortium,
    member: str,
    store: StateBackend,
    *,
    client: RegistryClient | None = None,
    **changes: Any,
) -> LedgerWorker:
    """A worker anchoring for ``member`` with fast retries."""
    link = ChainLink(client or consortium.gateways[member], member, "evm")
    return LedgerWorker(
        settings(consortium, **changes),
        store=lambda: store,
        record_key=lambda: RECORD_KEY,
        consumer=f"{member}-{uuid.uuid4().hex[:6]}",
        connect=lambda: link,
        wait_s=0.05,
        min_backoff_s=0.05,
        max_backoff_s=0.3,
    )


def anchored_events(consortium: Consortium, member: str) -> list[int]:
    """The batch sequences of every ``Anchored`` event of ``member`` on chain."""
    logs = (
        consortium.client()
        .contract.events.Anchored()
        .get_logs(
            from_block=consortium.deployment.block_number,
            argument_filters={"memberId": member_id_bytes(member)},
        )
    )
    return [int(log["args"]["batchSeq"]) for log in logs]


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisStateStore]:
    """A Redis store in a namespace of the test's own."""
    client: Any = coredis.Redis.from_url(redis_url, decode_responses=True)
    async with client:
        store = RedisStateStore(client, namespace=f"ledger-{uuid.uuid4().hex[:10]}")
        await store.prepare()
        yield store


# ---- gateways ---------------------------------------------------------------------------


def gateway_file(
    tmp_path: Path,
    name: str,
    *,
    redis_url: str,
    namespace: str,
    consortium: Consortium,
    key_env: str,
) -> Path:
    """A gateway's configuration: the demo consortium (its ILSs unreachable), Redis state
    and an evm ledger signing with the key in ``key_env``."""
    text = demo_without_ils()
    text += f"""
[gateway]
admin = {{ port = 0 }}
patron_key_secret = {{ env = "LEDGER_TEST_PATRON_SECRET" }}

[[gateway.sip2]]
port = 0

[gateway.state]
backend = "redis"
url = "{redis_url}"
namespace = "{namespace}"

[gateway.ledger]
backend = "evm"
rpc_url = "{node_url(consortium)}"
contract = "{consortium.deployment.address}"
deploy_block = {consortium.deployment.block_number}
key = {{ env = "{key_env}" }}
batch_size = 5
batch_interval_s = 0.2
"""
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args: str) -> int:
    """``interlend …`` in this process (run from a worker thread under trio); the
    logging configuration the command sets is put back afterwards."""
    before = structlog.get_config()
    try:
        return main(["--log-level", "error", *args])
    finally:
        structlog.configure(**before)


async def test_two_gateways_anchor_and_every_loan_verifies(
    tmp_path: Path,
    redis_url: str,
    consortium: Consortium,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two gateways (alpha's and beta's keys, each with its own outbox) anchor their
    loans in batches on their members' chains; every loan verifies through the CLI and
    the proof endpoint, and a tampered registry record or receipt is detected."""
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    monkeypatch.setenv("LEDGER_TEST_PATRON_SECRET", PATRON_SECRET)
    paths: dict[str, Path] = {}
    namespaces: dict[str, str] = {}
    for member in ("alpha", "beta"):
        env = f"LEDGER_TEST_{member.upper()}_KEY"
        monkeypatch.setenv(env, consortium.keys[member].key.hex())
        namespaces[member] = f"gw-{member}-{uuid.uuid4().hex[:8]}"
        paths[member] = gateway_file(
            tmp_path,
            member,
            redis_url=redis_url,
            namespace=namespaces[member],
            consortium=consortium,
            key_env=env,
        )
    loans: dict[str, list[Loan]] = {"alpha": [], "beta": []}
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            gateways = {m: Gateway.from_file(p, handle_signals=False) for m, p in paths.items()}
            bound = {m: await nursery.start(g.run) for m, g in gateways.items()}
            for member, gateway in gateways.items():
                store = gateway.services.store
                owner = member
                home = "gamma"
                for n in range(4):
                    loans[member].append(await lend(store, f"{n}", owner=owner, home=home))
                loans[member].append(
                    await lend_renew_return(store, "returned", owner=owner, home=home)
                )
            for gateway in gateways.values():
                await drained(gateway.services.store)
                # The worker counts a batch just after acknowledging its events.
                await anchored(gateway, 7)

            # 4 checkouts + 3 events = 7 events per gateway: batches of 5 and 2.
            for member in ("alpha", "beta"):
                info = consortium.client().member(member)
                assert info.batch_seq == 2
                assert anchored_events(consortium, member) == [1, 2]
                stats = gateways[member].ledger_worker.statistics()  # type: ignore[union-attr]
                assert (stats.member_id, stats.events_anchored) == (member, 7)
                assert stats.last_batch_seq == 2

            async with httpx.AsyncClient(timeout=10) as http:
                for member, found in loans.items():
                    for loan in found:
                        answer = await http.get(
                            f"{bound[member].admin}/api/loans/{loan.loan_id}/proof"
                        )
                        assert answer.status_code == 200, answer.text
                        proof = answer.json()
                        assert proof["verified"] is True, proof["reason"]
                        assert proof["complete"] is True
                        assert {e["anchor"]["member_id"] for e in proof["events"]} == {member}
                returned = loans["beta"][-1]
                kinds = [
                    e["kind"]
                    for e in (
                        await http.get(f"{bound['beta'].admin}/api/loans/{returned.loan_id}/proof")
                    ).json()["events"]
                ]
                assert kinds == ["checkout", "renew", "checkin"]
                other = await http.get(
                    f"{bound['alpha'].admin}/api/loans/{loans['beta'][0].loan_id}/proof"
                )
                assert other.status_code == 404  # alpha's registry does not hold beta's loans

            capsys.readouterr()
            ok = await trio.to_thread.run_sync(
                cli, "ledger", "verify", "--config", str(paths["beta"]), returned.loan_id
            )
            out = capsys.readouterr().out
            assert ok == 0, out
            assert f"loan {returned.loan_id}: verified" in out
            assert "checkin" in out

            # Tampering with the registry: the loan now names another item.
            raw: Any = coredis.Redis.from_url(redis_url, decode_responses=True)
            async with raw:
                target = loans["alpha"][0]
                key = "{" + namespaces["alpha"] + "}:loan:" + target.loan_id
                await raw.hset(key, {"item": "31001000000999"})
                bad = await trio.to_thread.run_sync(
                    cli, "ledger", "verify", "--config", str(paths["alpha"]), target.loan_id
                )
                err = capsys.readouterr().err
                assert bad == 1
                assert "does not match the proven record" in err
                async with httpx.AsyncClient(timeout=10) as http:
                    answer = await http.get(
                        f"{bound['alpha'].admin}/api/loans/{target.loan_id}/proof"
                    )
                assert answer.json()["status"] == "failed"
                assert "does not match the proven record" in answer.json()["reason"]

                # Tampering with a stored receipt: its record claims another lender.
                second = loans["alpha"][1]
                receipts_key = "{" + namespaces["alpha"] + "}:receipts:" + second.loan_id
                with raw.decoding(False):
                    [(entry_id, kept)] = (await raw.hgetall(receipts_key)).items()
                stored = decode_receipt(second.loan_id, kept, None)
                record = stored.receipt.record.replace(b"alpha", b"gamma", 1)
                forged = replace(stored.receipt, record=record)
                await raw.hset(
                    receipts_key,
                    {entry_id: encode_receipt(forged, path_in_tree=stored.path_in_tree)},
                )
                bad = await trio.to_thread.run_sync(
                    cli, "ledger", "verify", "--config", str(paths["alpha"]), second.loan_id
                )
                assert bad == 1
                assert "does not verify" in capsys.readouterr().err

            missing = await trio.to_thread.run_sync(
                cli, "ledger", "verify", "--config", str(paths["alpha"]), "no-such-loan"
            )
            assert missing == 1
            assert "holds no loan" in capsys.readouterr().err
            for gateway in gateways.values():
                gateway.stop()


# ---- the worker -------------------------------------------------------------------------


async def _verify_all(store: StateBackend, link: RegistryClient, loans: list[Loan]) -> None:
    reader = ChainLink(link, "", "evm")
    for loan in loans:
        proof = await prove_loan(
            store, store, loan.loan_id, record_key=RECORD_KEY, find_anchor=reader.find_anchor
        )
        assert proof.status is ProofStatus.VERIFIED, proof.reason
        assert proof.complete


async def test_the_outbox_holds_while_the_node_is_down(
    own_anvil: AnvilNode, redis_store: RedisStateStore
) -> None:
    """With the chain down the events stay in the outbox and the worker retries; after
    the node comes back everything is anchored once: nothing lost, nothing doubled."""
    consortium = make_consortium(open_rpc(own_anvil.url, timeout_s=2.0).w3)
    store = redis_store
    running = worker(consortium, "alpha", store)
    loans: list[Loan] = []

    def retries(logs: list[MutableMapping[str, Any]]) -> int:
        return sum(e["event"] == "the chain is unavailable; the outbox holds" for e in logs)

    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.run)
            loans += [await lend(store, f"before-{n}", owner="alpha") for n in range(3)]
            await counted(running, 3)
            before = running.statistics().batches_anchored

            own_anvil.stop()
            loans += [await lend(store, f"during-{n}", owner="alpha") for n in range(6)]
            loans.append(await lend_renew_return(store, "during-returned", owner="alpha"))
            assert "unavailable" in await failed(running)
            await eventually(lambda: retries(logs) >= 3, what="a few retries")
            assert await store.outbox_pending() == 9  # held, not lost
            assert running.statistics().batches_anchored == before

            own_anvil.start()
            await counted(running, 12)  # acknowledged, cleared and counted
            nursery.cancel_scope.cancel()
    stats = running.statistics()
    assert stats.events_anchored == 12
    assert stats.last_error is None
    sequences = anchored_events(consortium, "alpha")
    assert sequences == list(range(1, len(sequences) + 1))  # each batch once, in order
    assert consortium.client().member("alpha").batch_seq == stats.batches_anchored
    receipts = [r for loan in loans for r in await store.receipts(loan.loan_id)]
    assert len(receipts) == 12  # one per event
    await _verify_all(store, consortium.client(), loans)


async def test_a_batch_anchored_before_a_crash_is_not_anchored_again(
    consortium: Consortium,
) -> None:
    """A gateway that died after anchoring, before storing the receipts, finds its saved
    batch at start: the anchor is recognised (``already``), not sent a second time."""
    store = MemoryStateStore()
    loans = [await lend(store, f"crash-{n}", owner="gamma") for n in range(3)]
    entries = await store.outbox_read("died", 10, wait_s=0)
    sealed = tuple(BatchEntry(e.entry_id, seal(e.event, key=RECORD_KEY)) for e in entries)
    batch = PendingBatch("gamma", 1, ZERO_ROOT, sealed)
    await store.save_batch(batch)
    consortium.gateways["gamma"].anchor(1, batch.root, ZERO_ROOT)  # then the crash

    running = worker(consortium, "gamma", store)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.run)
            await counted(running, 3)
            nursery.cancel_scope.cancel()
    assert anchored_events(consortium, "gamma") == [1]
    assert await store.pending_batch("gamma") is None
    [receipt] = await store.receipts(loans[0].loan_id)
    assert receipt.batch_seq == 1
    await _verify_all(store, consortium.client(), loans)


async def test_a_batch_is_sequenced_again_when_the_chain_moved(consortium: Consortium) -> None:
    """A saved batch whose sequence another writer took meanwhile keeps its root and is
    anchored after it."""
    store = MemoryStateStore()
    loans = [await lend(store, f"moved-{n}", owner="beta") for n in range(2)]
    entries = await store.outbox_read("w", 10, wait_s=0)
    sealed = tuple(BatchEntry(e.entry_id, seal(e.event, key=RECORD_KEY)) for e in entries)
    await store.save_batch(PendingBatch("beta", 1, ZERO_ROOT, sealed))
    consortium.gateways["beta"].anchor(1, b"\x07" * 32, ZERO_ROOT)  # someone else's batch 1

    running = worker(consortium, "beta", store)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.run)
            await counted(running, 2)
            nursery.cancel_scope.cancel()
    assert anchored_events(consortium, "beta") == [1, 2]
    assert running.statistics().last_batch_seq == 2
    await _verify_all(store, consortium.client(), loans)


async def test_gateways_sharing_one_outbox_anchor_each_event_once(
    consortium: Consortium,
) -> None:
    """Two gateways on one outbox (one namespace) split its events between their chains;
    every event has exactly one receipt and verifies."""
    store = MemoryStateStore()
    workers = [worker(consortium, m, store, batch_size=3) for m in ("alpha", "beta")]
    loans: list[Loan] = []
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            for running in workers:
                nursery.start_soon(running.run)
            for n in range(10):
                loans.append(await lend(store, f"shared-{n}", owner="gamma"))
                # The workers take what has come before the next loan is made.
                await trio.testing.wait_all_tasks_blocked()
            await eventually(
                lambda: sum(w.statistics().events_anchored for w in workers) >= 10,
                timeout=TIMEOUT,
                what="every event to be counted as anchored",
            )
            nursery.cancel_scope.cancel()
    assert sum(w.statistics().events_anchored for w in workers) == 10
    for loan in loans:
        assert len(await store.receipts(loan.loan_id)) == 1
    await _verify_all(store, consortium.client(), loans)


async def test_a_non_member_key_is_refused_and_the_outbox_holds(consortium: Consortium) -> None:
    """A gateway whose key is no member's cannot anchor: the worker reports why and the
    events wait in the outbox."""
    outsider = new_account(consortium.w3)
    store = MemoryStateStore()
    await lend(store, "outsider-1", owner="alpha")
    real = settings(consortium, rpc_url=node_url(consortium))
    running = LedgerWorker(
        real,
        store=lambda: store,
        record_key=lambda: RECORD_KEY,
        key=outsider.key.hex(),
        min_backoff_s=0.05,
        max_backoff_s=0.2,
    )
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.run)
            await failed(running)
            nursery.cancel_scope.cancel()
    stats = running.statistics()
    assert not stats.connected
    assert f"{outsider.address} is not the gateway of any member" in (stats.last_error or "")
    assert await store.outbox_pending() == 1


async def test_an_unreachable_chain_is_retried_with_back_off() -> None:
    """Connecting is retried after delays doubling from ``min_backoff_s`` up to
    ``max_backoff_s``, and the worker says why it is not connected."""
    attempts: list[None] = []
    sixth = trio.Event()

    def unreachable() -> ChainLink:  # runs in a worker thread
        attempts.append(None)
        if len(attempts) == 6:  # the fifth failure is logged
            trio.from_thread.run_sync(sixth.set)
        raise ChainUnavailable("http://127.0.0.1:1", "connection refused")

    store = MemoryStateStore()
    running = LedgerWorker(
        LedgerSettings(backend="embedded"),
        store=lambda: store,
        record_key=lambda: RECORD_KEY,
        connect=unreachable,
        min_backoff_s=0.01,
        max_backoff_s=0.04,
    )
    with capture_logs() as logs, trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.run)
            await sixth.wait()
            nursery.cancel_scope.cancel()
    retries = [e["retry_s"] for e in logs if e["event"] == "cannot connect to the ledger's chain"]
    assert retries[:5] == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert not running.statistics().connected
    assert "connection refused" in (running.statistics().last_error or "")


# ---- governance from the command line ---------------------------------------------------


def test_deploy_and_add_member_from_the_command_line(
    tmp_path: Path,
    consortium: Consortium,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``ledger deploy`` deploys and admits the first members; ``ledger add-member``
    proposes, then another member's vote passes the admission."""
    uri = node_url(consortium)
    deployer = new_account(consortium.w3)
    first, second = Account.create(), Account.create()
    monkeypatch.setenv("LEDGER_DEPLOYER_KEY", deployer.key.hex())
    members = ["--member", f"north:{first.address}", "--member", f"south:{second.address}"]
    deploy_args = ["ledger", "deploy", "--rpc", uri, "--key-env", "LEDGER_DEPLOYER_KEY"]
    assert cli(*deploy_args, *members) == 0
    printed = capsys.readouterr().out
    contract = next(
        line.split('"')[1] for line in printed.splitlines() if line.startswith("contract")
    )
    registry = RegistryClient(consortium.w3, contract)
    assert [m.member_id for m in registry.members()] == ["north", "south"]
    assert registry.bootstrap_admin() is None
    assert "[gateway.ledger]" in printed

    # On the fixture's registry: alpha proposes delta, beta's vote passes it (2 of 3).
    delta = Account.create()
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    paths = {}
    for member in ("alpha", "beta"):
        monkeypatch.setenv(f"LEDGER_{member.upper()}", consortium.keys[member].key.hex())
        path = tmp_path / f"{member}.toml"
        path.write_text(
            DEMO_TOML.read_text(encoding="utf-8")
            + f"""
[gateway.ledger]
backend = "evm"
rpc_url = "{uri}"
contract = "{consortium.deployment.address}"
key = {{ env = "LEDGER_{member.upper()}" }}
""",
            encoding="utf-8",
        )
        paths[member] = path
    assert cli("ledger", "add-member", "--config", str(paths["alpha"]), "delta", delta.address) == 0
    assert "not passed yet" in capsys.readouterr().out
    assert cli("ledger", "add-member", "--config", str(paths["alpha"]), "delta", delta.address) == 0
    assert "already voted" in capsys.readouterr().out
    assert cli("ledger", "add-member", "--config", str(paths["beta"]), "delta", delta.address) == 0
    assert "passed: proposal" in capsys.readouterr().out
    assert consortium.client().member("delta").gateway == delta.address
    assert cli("ledger", "deploy", "--rpc", uri, "--key-env", "NOPE_NOT_SET") == 1
    assert "NOPE_NOT_SET" in capsys.readouterr().err


def test_the_derived_record_key_is_stable() -> None:
    """Without ``record_key`` every gateway with the same patron secret derives the same
    record key, and it is not the patron secret itself."""
    one = derived_record_key(PATRON_SECRET.encode())
    assert one == derived_record_key(PATRON_SECRET.encode())
    assert one != PATRON_SECRET.encode()
    assert len(one) == 32
