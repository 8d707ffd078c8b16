"""The ledger worker: drains the outbox into Merkle batches anchored on the chain.

One task in the daemon's root nursery (in place of the outbox pump when
``gateway.ledger.backend`` is not ``none``).  It is the only writer of its member's
chain in this process, so it owns the signing key's nonce.  Its cycle:

1. **Collect.**  Read outbox events (and reclaim those a dead gateway read but never
   acknowledged) until ``batch_size`` events or until the first is
   ``batch_interval_s`` old.  Events held meanwhile are touched now and then, so no
   other gateway reclaims them.
2. **Seal and persist.**  Each event becomes a salted record (``seal_batch``); the
   batch (records, salts, outbox entry ids) is saved in the state store, then
   sequenced after the member's head on chain and saved again, *before* anything is
   sent.  A crash from here on finds the batch at start and anchors the same root: the
   client sees it already anchored (``already=True``) if it was, never twice.
3. **Anchor** through ``RegistryClient`` in a worker thread (web3 is synchronous).  If
   the member's chain moved under the batch (another writer, a chain that was reset),
   the batch keeps its root and is sequenced again.
4. **Finish.**  Store each event's ``Receipt`` by loan, acknowledge the events, drop
   the batch: in that order, so that a crash in between redoes only idempotent steps.

While the chain or the store is down, the worker retries with back-off and the outbox
holds every event: nothing is lost, and the checkout path never waits for any of this
(the registry's commit already wrote the event).  The worker keeps the outbox
consumer's health record (``OutboxConsumerHealth``): a worker whose state store calls
keep failing is reported by ``/readyz``; one waiting for the chain is not.

Delivery is at least once: an event is anchored twice only if a gateway died holding
it for longer than the reclaim time *and* came back with its batch after another
gateway anchored the event; a receipt is kept once per event either way.

Backends (connected by ``adapters/ledger/connect.py``): ``embedded`` starts web3's
in-process EVM at start (deploys the registry, admits this gateway's member); ``evm``
connects to a JSON-RPC node, checks the chain id and the contract, and finds the member
its key is the gateway of.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.backoff import Backoff
from adapters.ledger.chain import (
    ZERO_ROOT,
    AnchorConflict,
    ChainError,
    ChainRejected,
    ChainUnavailable,
    ConfirmationTimeout,
)
from adapters.ledger.connect import ChainLink, connect_chain
from adapters.ledger.records import RecordError, SealedBatch, seal
from adapters.state.base import BatchEntry, PendingBatch, StateUnavailable
from gateway.ledger.outbox import OutboxConsumerHealth, OutboxConsumerStatistics, consumer_name
from gateway.ledger.proof import LoanProof, prove_loan

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from adapters.ledger.base import LoanEvent
    from adapters.state.base import OutboxEntry, StateBackend
    from config.models import LedgerSettings

__all__ = ["LedgerWorker", "LedgerWorkerStatistics"]

log = structlog.get_logger("interlend.ledger")

WAIT_S = 1.0
RECLAIM_AFTER_S = 60.0
MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
RESEQUENCE_ATTEMPTS = 3
_MOVED = frozenset({"BadSequence", "BadPrevRoot", "AnchorConflict"})


# ---- statistics -------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerWorkerStatistics:
    """What the worker has done, for ``/metrics`` and the status page."""

    backend: str
    member_id: str | None
    connected: bool
    queued: int
    """Loan events in the outbox not yet acknowledged (as last seen)."""
    holding: int
    """Events in the batch being collected or anchored."""
    batches_anchored: int
    events_anchored: int
    last_batch_seq: int | None
    last_tx_hash: str | None
    last_anchored_at: datetime | None
    last_error: str | None
    """The last failure, until the next batch is anchored."""
    outbox: OutboxConsumerStatistics
    """How the worker's reading of the outbox is doing (``gateway/ledger/outbox.py``)."""

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        data = dataclasses.asdict(self)
        if self.last_anchored_at is not None:
            data["last_anchored_at"] = self.last_anchored_at.isoformat()
        data["outbox"] = self.outbox.to_json()
        return data


# ---- the worker -------------------------------------------------------------------------


class LedgerWorker:
    """Anchors the outbox's loan events (see the module documentation).

    Args:
        settings: ``[gateway.ledger]``.
        store: Returns the current state backend (the runtime's).
        record_key: Returns the consortium's record key.
        key: The gateway's signing key (hex), if configured.
        default_member: The member an embedded chain admits when ``member_id`` is unset.
        consumer: This worker's name in the outbox's consumer group.
        connect: Connects to the chain (blocking); tests substitute their own.
        wait_s: How long one outbox read waits for new events.
        reclaim_after_s: Events read but unacknowledged this long are taken over.
        min_backoff_s: The first retry delay after a failure (doubled after each
            further failure in a row, ``adapters/backoff.py``).
        max_backoff_s: The longest retry delay.
        on_read: Told of newly read events (not reclaimed ones), before they are
            acknowledged (the lending counters are fed this way).
        health: Where the worker records how its reading of the outbox is doing.
    """

    def __init__(
        self,
        settings: LedgerSettings,
        *,
        store: Callable[[], StateBackend],
        record_key: Callable[[], bytes],
        key: str | None = None,
        default_member: str = "interlend",
        consumer: str | None = None,
        connect: Callable[[], ChainLink] | None = None,
        wait_s: float = WAIT_S,
        reclaim_after_s: float = RECLAIM_AFTER_S,
        min_backoff_s: float = MIN_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        on_read: Callable[[list[LoanEvent]], Awaitable[None]] | None = None,
        health: OutboxConsumerHealth | None = None,
    ) -> None:
        self.settings = settings
        self.health = health or OutboxConsumerHealth()
        self._on_read = on_read
        self._store = store
        self._record_key = record_key
        self._connect = connect or partial(connect_chain, settings, key, default_member)
        self.consumer = consumer or consumer_name()
        self.wait_s = wait_s
        self.reclaim_after_s = reclaim_after_s
        self._backoff = Backoff(min_backoff_s, max_backoff_s)
        self.link: ChainLink | None = None
        self._held: list[str] = []
        self._next_reclaim = 0.0
        self._next_touch = 0.0
        self._queued = 0
        self._batches = 0
        self._events = 0
        self._last_seq: int | None = None
        self._last_tx: str | None = None
        self._last_at: datetime | None = None
        self._last_error: str | None = None

    # ---- reporting ----------------------------------------------------------------------

    def statistics(self) -> LedgerWorkerStatistics:
        """Counts, the last batch and the last error."""
        return LedgerWorkerStatistics(
            backend=self.settings.backend,
            member_id=self.link.member_id if self.link is not None else None,
            connected=self.link is not None,
            queued=self._queued,
            holding=len(self._held),
            batches_anchored=self._batches,
            events_anchored=self._events,
            last_batch_seq=self._last_seq,
            last_tx_hash=self._last_tx,
            last_anchored_at=self._last_at,
            last_error=self._last_error,
            outbox=self.health.statistics(),
        )

    async def prove(self, loan_id: str) -> LoanProof:
        """Verify one loan against the registry and this worker's chain.

        Raises:
            StateUnavailable: The registry cannot be read.
            ChainUnavailable: The chain is not connected yet, or cannot be read.
        """
        link = self.link
        store = self._store()
        if link is None:
            loan = await store.loan(loan_id)
            if loan is None or not await store.receipts(loan_id):
                return LoanProof(loan_id, loan, (), False)
            raise ChainUnavailable(self.settings.rpc_url or self.settings.backend, "not connected")
        return await prove_loan(
            store, store, loan_id, record_key=self._record_key(), find_anchor=link.find_anchor
        )

    # ---- running ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, then anchor batches until cancelled."""
        task_status.started()
        try:
            await self._connect_until_done()
            await self._work()
        finally:
            if self.link is not None:
                self.link.close()

    async def _work(self) -> None:
        while True:
            try:
                await self._step()
                self._backoff.reset()
            except StateUnavailable as exc:
                self.health.failed(exc.detail)
                await self._failed("the state store is unavailable", exc.detail, warning=True)
            except (ChainUnavailable, ConfirmationTimeout) as exc:
                await self._failed("the chain is unavailable; the outbox holds", str(exc), True)
            except ChainError as exc:
                await self._failed("the chain refused the batch; retrying", str(exc), False)
            except Exception as exc:  # the root nursery must not die of a ledger bug
                log.exception("ledger worker failed; retrying")
                await self._failed("unexpected failure", f"{type(exc).__name__}: {exc}", False)

    async def _connect_until_done(self) -> None:
        backoff = Backoff(self._backoff.base_s, self._backoff.cap_s)
        while self.link is None:
            try:
                link = await trio.to_thread.run_sync(self._connect, abandon_on_cancel=True)
            except ChainError as exc:
                self._last_error = str(exc)
                delay = backoff.next_delay()
                log.error("cannot connect to the ledger's chain", error=str(exc), retry_s=delay)
                await trio.sleep(delay)
                continue
            except Exception as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"
                delay = backoff.next_delay()
                log.exception("cannot start the ledger's chain", retry_s=delay)
                await trio.sleep(delay)
                continue
            self.link = link
            self._last_error = None
            log.info(
                "ledger connected",
                backend=link.backend,
                member=link.member_id,
                contract=link.client.address,
                gateway=link.client.account.address if link.client.account else None,
            )

    async def _failed(self, message: str, detail: str, warning: bool) -> None:
        self._last_error = detail
        delay = self._backoff.next_delay()
        (log.warning if warning else log.error)(message, error=detail, retry_s=delay)
        with contextlib.suppress(StateUnavailable):
            self._queued = await self._store().outbox_pending()
            self.health.saw_pending(self._queued)
        deadline = trio.current_time() + delay
        # Keep the events of the stuck batch ours while waiting.
        while trio.current_time() < deadline:
            await self._touch_held(force=False)
            # The touch may outlast the deadline (a store slow to answer): sleep_until
            # a time already past returns at once, where a negative sleep would raise.
            await trio.sleep_until(min(deadline, trio.current_time() + self.reclaim_after_s / 3))

    async def _touch_held(self, *, force: bool) -> None:
        if not self._held or (not force and trio.current_time() < self._next_touch):
            return
        self._next_touch = trio.current_time() + self.reclaim_after_s / 3
        with contextlib.suppress(StateUnavailable):  # the next step reports it
            await self._store().outbox_touch(self.consumer, self._held)
            self.health.read()

    async def _step(self) -> None:
        link = self.link
        assert link is not None
        store = self._store()
        batch = await store.pending_batch(link.member_id)
        if batch is None:
            self._held = []
            batch = await self._collect(store, link.member_id)
            if batch is None:
                self._queued = await store.outbox_pending()
                self.health.saw_pending(self._queued)
                return
        self._held = [entry.entry_id for entry in batch.entries]
        await self._anchor(store, link, batch)

    async def _collect(self, store: StateBackend, member: str) -> PendingBatch | None:
        """Read events until the batch is full or its first event is old enough."""
        size = self.settings.batch_size
        taken: dict[str, OutboxEntry] = {}
        deadline: float | None = None
        while len(taken) < size:
            now = trio.current_time()
            if deadline is not None and now >= deadline:
                break
            found: list[OutboxEntry] = []
            if now >= self._next_reclaim:
                self._next_reclaim = now + self.reclaim_after_s / 2
                found = await store.outbox_reclaim(
                    self.consumer, size - len(taken), min_idle_s=self.reclaim_after_s
                )
                self.health.read()
                if found:
                    log.warning("reclaimed unacknowledged loan events", count=len(found))
            if not found:
                wait = self.wait_s if deadline is None else min(self.wait_s, deadline - now)
                found = await store.outbox_read(self.consumer, size - len(taken), wait_s=wait)
                self.health.read()
                if found and self._on_read is not None:
                    await self._on_read([entry.event for entry in found])
            for entry in found:
                taken.setdefault(entry.entry_id, entry)
            self._held = list(taken)
            if not taken:
                return None
            if deadline is None:
                deadline = trio.current_time() + self.settings.batch_interval_s
            await self._touch_held(force=False)
        return await self._seal(store, member, list(taken.values()))

    async def _seal(
        self, store: StateBackend, member: str, entries: Sequence[OutboxEntry]
    ) -> PendingBatch | None:
        key = self._record_key()
        sealed: list[BatchEntry] = []
        unrecordable: list[str] = []
        for entry in entries:
            try:
                sealed.append(BatchEntry(entry.entry_id, seal(entry.event, key=key)))
            except RecordError as exc:
                log.error(
                    "a loan event cannot become a ledger record; it is dropped",
                    loan=entry.event.loan_id,
                    kind=entry.event.kind.value,
                    error=str(exc),
                )
                unrecordable.append(entry.entry_id)
        if unrecordable:
            await store.outbox_ack(unrecordable)
            self.health.acked()
        if not sealed:
            return None
        batch = PendingBatch(member, 0, ZERO_ROOT, tuple(sealed))
        await store.save_batch(batch)  # before anything goes to the chain
        return batch

    async def _sequenced(
        self, store: StateBackend, link: ChainLink, batch: PendingBatch
    ) -> PendingBatch:
        """The batch after the member's head on chain, saved before it is sent."""
        head = await link.call(link.client.member, link.member_id)
        batch = dataclasses.replace(batch, batch_seq=head.batch_seq + 1, prev_root=head.last_root)
        await store.save_batch(batch)
        return batch

    async def _anchor(self, store: StateBackend, link: ChainLink, batch: PendingBatch) -> None:
        sealed: SealedBatch = batch.sealed()
        if batch.batch_seq == 0:
            batch = await self._sequenced(store, link, batch)
        for attempt in range(RESEQUENCE_ATTEMPTS):
            try:
                anchor = await link.call(
                    link.client.anchor, batch.batch_seq, sealed.root, batch.prev_root
                )
                break
            except ChainRejected as exc:
                if exc.error not in _MOVED and not isinstance(exc, AnchorConflict):
                    raise
                if attempt == RESEQUENCE_ATTEMPTS - 1:
                    raise
                previous = batch.batch_seq
                batch = await self._sequenced(store, link, batch)
                log.warning(
                    "the member's chain moved under the batch; sequenced again",
                    member=link.member_id,
                    was=previous,
                    now=batch.batch_seq,
                    error=exc.error,
                )
        else:  # pragma: no cover - the loop breaks or raises
            raise AssertionError("unreachable")
        receipts = sealed.receipts(
            link.member_id,
            batch.batch_seq,
            tx_hash=anchor.tx_hash,
            block_number=anchor.block_number,
        )
        entry_ids = [entry.entry_id for entry in batch.entries]
        await store.put_receipts(list(zip(entry_ids, receipts, strict=True)))
        await store.outbox_ack(entry_ids)
        self.health.acked()
        await store.clear_batch(link.member_id, sealed.root)
        self._held = []
        self._batches += 1
        self._events += len(entry_ids)
        self._last_seq = batch.batch_seq
        self._last_tx = "0x" + anchor.tx_hash.hex()
        self._last_at = datetime.now(UTC)
        self._last_error = None
        self._queued = await store.outbox_pending()
        self.health.saw_pending(self._queued)
        log.info(
            "loan batch anchored",
            member=link.member_id,
            batch=batch.batch_seq,
            events=len(entry_ids),
            tx=self._last_tx,
            block=anchor.block_number,
            gas=anchor.gas_used,
            already=anchor.already,
        )
