"""The Redis state store: the loan registry, the ledger outbox and throttles, shared by
every gateway of a consortium.

Each registry operation is one Lua script (the sources sit beside this module in
``lua/``), so it is one round trip and atomic: two gateways racing for a patron's last
slot are serialised by Redis, and a loan and its outbox event are written together.

Keys.  Every registry key carries the same hash tag, ``{namespace}``, so on a Redis
Cluster they share one slot and every script may touch all of them.  That trades
spreading the registry across shards for atomic caps across a patron's loans at every
library; a consortium's loan traffic (hundreds per second at the busiest) fits one
shard, and a cluster still gives fail-over.  Throttle buckets, which need no
atomicity with anything else, are spread over slots by their own tags.

    {ns}:loan:<id>            hash   a loan (no personal data: the patron is a keyed hash)
    {ns}:idem:<sha256>        string "H:<token>" while held (expires with the hold),
                                     "L:<loan id>" once committed (kept a week)
    {ns}:hold:<token>         hash   a held slot, until committed or released; expires
                                     ``hold_ttl`` + ``unconfirmed_kept`` after it was
                                     last taken
    {ns}:holds                zset   every held slot by expiry (``unconfirmed``; entries
                                     of expired holds are dropped)
    {ns}:item:<owner>|<item>  string the item's active loan
    {ns}:patron:<key>         zset   "owner|loan" of a patron's active loans, by time
    {ns}:held:<key>           zset   "owner|token" of a patron's held slots, by expiry
                                     (expires with its last entry)
    {ns}:owner:<owner>        set    active loans of an owner
    {ns}:owner-held:<owner>   zset   held slots at an owner, by expiry (expires with
                                     its last entry)
    {ns}:home:<home>          set    active loans of a home library's patrons
    {ns}:history              zset   every loan by checkout time (trimmed to ``history``)
    {ns}:outbox               stream loan events for the ledger (consumer group "ledger")
    {ns}:ledger-batch:<member> hash  the member's pending ledger batch (root, batch JSON)
    {ns}:receipts:<loan id>   hash   outbox entry id -> the event's receipt (compact bytes,
                                     ``receipts.py``; JSON in the first format; no salt)
    {ns}:salts:<loan id>      hash   outbox entry id -> the record's salt (16 bytes; hex in
                                     the first format); deleting it is crypto-shredding
    {ns}:tree:<root>          string the leaf hashes of an anchored batch, joined in
                                     order (its receipts' proofs are computed from them)
    {ns}:sel:<member>         hash   lending counters of a member (lender selection):
                                     <sum>:v and <sum>:s (value, stamp), and counts
    {ns}:sel-turnaround[:<m>] list   recent turnarounds (a member's, the consortium's)
    {ns}:refusals             zset   refused requests (JSON, with a unique tag) by time
                                     in ms (trimmed to ``refusal_history``)
    {ns}:tholds               hash   open title holds at lenders: id -> JSON
    {ns}:tholds-by-time       zset   open title holds by placing time (ms)
    {ns}:thold-copy:<lender>|<item>|<home>
                              zset   open holds on a copy for a home library, by time
    {ns}:tholds-closed        zset   closed title holds (JSON with outcome and end) by
                                     end time in ms (trimmed to ``refusal_history``)
    {ns}:session:<id>         hash   a kiosk session (terminal, library, gateway), with a TTL
    {ns}:sessions             zset   live kiosk sessions by expiry
    <ns>:throttle:{<bucket>}  string a counter with a time to live
    <ns>:breakers:{<member>}  hash   endpoint -> until (ms): marked down by some gateway

Failures.  A call that cannot reach Redis, or that takes longer than ``timeout_s``,
raises ``StateUnavailable``; the client reconnects by itself on the next call.

The client.  coredis, because it runs on trio natively (it is built on anyio): redis-py's
async client is asyncio-only, and its sync client would need a worker thread per call.
coredis costs about 0.5 ms of CPU per command, which is why every operation here is one
script or one pipeline: one round trip per registry step.

The outbox's consumer group is made at start when it is missing; one made earlier (by
this gateway before a restart, or by another gateway) is used as it is, told by the
error's type, and a group Redis has lost (a restart without persistence, a deleted
stream) is made again at the next read, from the stream's first entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections import Counter
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import structlog
import trio
from coredis.exceptions import (
    RedisError,
    StreamConsumerGroupError,
    StreamDuplicateConsumerGroupError,
)
from coredis.tokens import PureToken

from adapters.ledger.base import LoanEvent, LoanEventKind

from .base import (
    UNCONFIRMED_KEPT_S,
    CapExceeded,
    ClosedHold,
    Loan,
    LoanKind,
    LoanRequest,
    LoanState,
    OutboxEntry,
    PendingBatch,
    RefusalRecord,
    Reservation,
    SelectionEvent,
    SelectionTallies,
    SelectionTally,
    StateUnavailable,
    TitleHold,
    entry_order,
)
from .receipts import decode_receipt, decode_salt, encode_receipt, whole_trees, with_path
from .resp import RespError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from adapters.ledger.records import Receipt

__all__ = ["GROUP", "PersistenceOff", "RedisStateStore"]

log = structlog.get_logger("interlend.state")

GROUP = "ledger"
"""The outbox's consumer group."""
IDEMPOTENCY_MS = 7 * 24 * 3600 * 1000
"""How long a checkout's idempotency key is remembered (a resend comes within minutes)."""
_SCRIPTS = (
    "reserve",
    "commit",
    "release",
    "renew",
    "close",
    "loans",
    "unconfirmed",
    "hit",
    "sessions",
    "clearbatch",
    "selection",
    "tholdclose",
)
_FAILURES = (
    RedisError,
    RespError,  # the scripts' client in ``RespRedisStateStore``
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)

T = TypeVar("T")
Client = Any
"""A ``coredis.Redis[str]`` or ``coredis.RedisCluster[str]`` (decoded responses)."""


class PersistenceOff(StateUnavailable):
    """Redis answers but its append-only file is off, and the settings require it."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _fields(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _loan(flat: Sequence[str]) -> Loan:
    f = _fields(flat)
    return Loan(
        loan_id=f["id"],
        owner=f["owner"],
        home=f["home"],
        item=f["item"],
        patron_key=f["patron"],
        proxy_patron=f["proxy"],
        terminal=f["terminal"],
        checked_out=datetime.fromisoformat(f["out"]),
        due=datetime.fromisoformat(f["due"]),
        renewals=int(f["renewals"]),
        state=LoanState(f["state"]),
        returned=datetime.fromisoformat(f["returned"]) if f.get("returned") else None,
        kind=LoanKind(f.get("kind") or LoanKind.WALK_IN.value),
    )


def _request(flat: Sequence[str]) -> LoanRequest:
    f = _fields(flat)
    return LoanRequest(
        owner=f["owner"],
        home=f["home"],
        item=f["item"],
        patron_key=f["patron"],
        proxy_patron=f["proxy"],
        terminal=f["terminal"],
        idempotency_key=f["idem"],
        kind=LoanKind(f.get("kind") or LoanKind.WALK_IN.value),
        cap_at_owner=None,
        cap_total=None,
    )


def _event(fields: dict[str, str]) -> LoanEvent:
    return LoanEvent(
        kind=LoanEventKind(fields["kind"]),
        loan_id=fields["loan"],
        owner=fields["owner"],
        home=fields["home"],
        item=fields["item"],
        patron_key=fields["patron"],
        at=datetime.fromisoformat(fields["at"]),
        due=datetime.fromisoformat(fields["due"]) if fields.get("due") else None,
    )


def _limit(value: int | None) -> int:
    return -1 if value is None else value


def _tally(fields: Mapping[str, str], turnarounds: Sequence[str]) -> SelectionTally:
    """A member's lending counters from its hash (a sum ``s`` is ``s:v`` and ``s:s``,
    its value and stamp; a count is a plain field) and its turnaround list."""
    return SelectionTally(
        sums={
            name[:-2]: (float(value), float(fields.get(name[:-2] + ":s", 0.0)))
            for name, value in fields.items()
            if name.endswith(":v")
        },
        counts={name: int(float(value)) for name, value in fields.items() if ":" not in name},
        turnarounds=tuple(float(h) for h in turnarounds),
    )


class RedisStateStore:
    """A ``StateBackend`` on Redis (see the module documentation).

    Args:
        client: An open coredis client with ``decode_responses=True``.
        namespace: The consortium's key prefix.
        timeout_s: The longest one call may take.
        hold_ttl_s: How long a held slot counts against the caps.
        history: Returned loans kept for ``recent_loans`` and reports.
        unconfirmed_kept_s: How long a slot held past ``hold_ttl_s`` is listed by
            ``unconfirmed`` before it expires (see ``UNCONFIRMED_KEPT_S``).
        refusal_history: Refusals, and closed title holds, kept for analytics (the
            oldest dropped first).
    """

    def __init__(
        self,
        client: Client,
        *,
        namespace: str = "interlend",
        timeout_s: float = 2.0,
        hold_ttl_s: float = 300.0,
        history: int = 1_000_000,
        unconfirmed_kept_s: float = UNCONFIRMED_KEPT_S,
        refusal_history: int = 1_000_000,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._p = "{" + namespace + "}:"
        self._timeout = timeout_s
        self._hold_ms = int(hold_ttl_s * 1000)
        self._listed_ms = max(1, int(unconfirmed_kept_s * 1000))
        self._history = history
        self._refusal_history = refusal_history
        self._refusals = self._p + "refusals"
        self._outbox = self._p + "outbox"
        self._scripts = {
            name: client.register_script(
                resources.files(__package__).joinpath(f"lua/{name}.lua").read_text()
            )
            for name in _SCRIPTS
        }
        self.calls: Counter[str] = Counter()
        """Calls made to Redis so far by operation (each is one round trip)."""
        self._group_ready = False

    # --- plumbing --------------------------------------------------------------------------

    @property
    def round_trips(self) -> int:
        """Calls made to Redis so far (each is one round trip)."""
        return self.calls.total()

    async def _do(self, what: str, make: Callable[[], Awaitable[T]], *, extra_s: float = 0.0) -> T:
        """One call, bounded by the time-out (plus ``extra_s`` for a read that waits)."""
        self.calls[what] += 1
        timeout = self._timeout + extra_s
        try:
            with trio.fail_after(timeout):
                return await make()
        except trio.TooSlowError:
            raise StateUnavailable(f"Redis did not answer ({what}) within {timeout}s") from None
        except _FAILURES as exc:
            raise StateUnavailable(f"Redis failed ({what}): {exc or type(exc).__name__}") from exc

    async def _script(self, name: str, keys: list[str], args: list[str | int]) -> Any:
        script = self._scripts[name]
        return await self._do(name, lambda: script(keys=keys, args=args))

    def _k(self, *parts: str) -> str:
        return self._p + ":".join(parts)

    def _idem(self, idempotency_key: str) -> str:
        return self._k("idem", hashlib.sha256(idempotency_key.encode()).hexdigest())

    def _item(self, owner: str, item: str) -> str:
        return self._k("item", f"{owner}|{item}")

    async def check(self) -> None:
        """Raise ``StateUnavailable`` unless Redis answers a PING now."""
        await self._do("ping", self._client.ping)

    async def prepare(self, *, require_aof: bool = False) -> None:
        """Create the outbox's consumer group and check Redis's persistence.

        Raises:
            StateUnavailable: Redis cannot be reached.
            PersistenceOff: ``require_aof`` is set and the append-only file is off.
        """
        await self._ensure_group()
        try:
            found = await self._do("config get", lambda: self._client.config_get(["appendonly"]))
        except StateUnavailable as exc:
            log.warning("cannot read Redis's persistence settings", detail=exc.detail)
            return
        if found.get("appendonly") != "yes":
            message = (
                "Redis's append-only file is off: loans acknowledged to kiosks can be lost "
                "if Redis crashes (set appendonly yes, appendfsync everysec or always)"
            )
            if require_aof:
                raise PersistenceOff(message)
            log.warning(message)

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return

        async def create() -> None:
            # A group made by an earlier start or by another gateway is the one we want.
            with contextlib.suppress(StreamDuplicateConsumerGroupError):
                await self._client.xgroup_create(self._outbox, GROUP, "0", mkstream=True)

        await self._do("xgroup create", create)
        self._group_ready = True

    async def _on_group(
        self, what: str, make: Callable[[], Awaitable[T]], *, extra_s: float = 0.0
    ) -> T:
        """Run a consumer-group command, making the group first if it is not known to
        exist, and once more if Redis says the group is gone (its data was lost, or the
        stream was deleted): the group is made again from the stream's first entry, so
        nothing still in the stream is skipped."""
        await self._ensure_group()
        try:
            return await self._do(what, make, extra_s=extra_s)
        except StateUnavailable as exc:
            if not isinstance(exc.__cause__, StreamConsumerGroupError):
                raise
            log.warning("the outbox's consumer group was gone; making it again", detail=exc.detail)
        self._group_ready = False
        await self._ensure_group()
        return await self._do(what, make, extra_s=extra_s)

    # --- the registry ----------------------------------------------------------------------

    async def reserve(self, request: LoanRequest, *, now: datetime) -> Reservation | CapExceeded:
        """Check caps and hold a slot in one atomic script (see the module documentation)."""
        token = uuid.uuid4().hex
        patron, owner = request.patron_key, request.owner
        answer = await self._script(
            "reserve",
            [
                self._idem(request.idempotency_key),
                self._k("patron", patron),
                self._k("held", patron),
                self._k("owner", owner),
                self._k("owner-held", owner),
                self._item(owner, request.item),
                self._k("hold", token),
                self._k("holds"),
            ],
            [
                self._p,
                _ms(now),
                self._hold_ms,
                token,
                owner,
                patron,
                _limit(request.cap_at_owner),
                _limit(request.cap_total),
                _limit(request.quota_at_owner),
                self._listed_ms,
                *("owner", owner, "home", request.home, "item", request.item),
                *("patron", patron, "proxy", request.proxy_patron),
                *("terminal", request.terminal, "idem", request.idempotency_key),
                *("kind", request.kind.value),
            ],
        )
        kind = answer[0]
        if kind == "loan":
            return Reservation("", request, existing=_loan(answer[1]))
        if kind == "cap":
            return CapExceeded(answer[1], int(answer[2]), int(answer[3]))
        held = _request(answer[2]) if len(answer) > 2 else request
        return Reservation(answer[1], held)

    async def commit(self, reservation: Reservation, *, due: datetime, now: datetime) -> Loan:
        """Make the held slot an active loan and queue its event (a repeat returns it)."""
        if reservation.existing is not None:
            return reservation.existing
        request, token = reservation.request, reservation.token
        loan_id = uuid.uuid4().hex
        owner, patron = request.owner, request.patron_key
        answer = await self._script(
            "commit",
            [
                self._idem(request.idempotency_key),
                self._k("hold", token),
                self._k("patron", patron),
                self._k("held", patron),
                self._k("owner-held", owner),
                self._k("holds"),
                self._item(owner, request.item),
                self._k("loan", loan_id),
                self._k("owner", owner),
                self._k("home", request.home),
                self._k("history"),
                self._outbox,
            ],
            [
                self._p,
                token,
                loan_id,
                _ms(now),
                now.isoformat(),
                due.isoformat(),
                IDEMPOTENCY_MS,
                self._history,
                owner,
                request.home,
                request.item,
                patron,
                request.proxy_patron,
                request.terminal,
                request.idempotency_key,
                request.kind.value,
            ],
        )
        return _loan(answer)

    async def release(self, reservation: Reservation) -> None:
        """Give the held slot back."""
        if not reservation.token:
            return
        request, token = reservation.request, reservation.token
        await self._script(
            "release",
            [
                self._idem(request.idempotency_key),
                self._k("hold", token),
                self._k("held", request.patron_key),
                self._k("owner-held", request.owner),
                self._k("holds"),
            ],
            [token, request.owner],
        )

    async def renew(self, owner: str, item: str, *, due: datetime, now: datetime) -> Loan | None:
        """Record a renewal and queue its event."""
        answer = await self._script(
            "renew",
            [self._item(owner, item), self._outbox],
            [self._p, due.isoformat(), now.isoformat()],
        )
        return _loan(answer) if answer else None

    async def close(
        self, owner: str, item: str, *, now: datetime, loan_id: str | None = None
    ) -> Loan | None:
        """Close the item's active loan (only ``loan_id``, when given) and queue its
        event."""
        answer = await self._script(
            "close",
            [self._item(owner, item), self._outbox, self._k("owner", owner)],
            [self._p, now.isoformat(), loan_id or ""],
        )
        return _loan(answer) if answer else None

    async def _loans(self, index: str, how: str, limit: int = 0) -> list[Loan]:
        answer = await self._script("loans", [index], [self._p, how, limit])
        return [_loan(flat) for flat in answer]

    async def active_loan(self, owner: str, item: str) -> Loan | None:
        """The item's active loan."""
        found = await self._loans(self._item(owner, item), "item")
        return found[0] if found else None

    async def active_loans(self, patron_key: str) -> list[Loan]:
        """The patron's active loans, oldest first."""
        return await self._loans(self._k("patron", patron_key), "patron")

    async def owner_active_loans(self, owner: str) -> list[Loan]:
        """The owner's active loans, oldest first."""
        found = await self._loans(self._k("owner", owner), "set")
        return sorted(found, key=lambda x: x.checked_out)

    async def recent_loans(self, limit: int) -> list[Loan]:
        """The newest loans first."""
        if limit <= 0:
            return []
        return await self._loans(self._k("history"), "recent", limit)

    async def loans_between(self, start: datetime, end: datetime) -> list[Loan]:
        """The loans checked out from ``start`` to ``end`` (excluded), oldest first."""
        answer = await self._script(
            "loans", [self._k("history")], [self._p, "between", 0, _ms(start), _ms(end)]
        )
        return [_loan(flat) for flat in answer]

    async def loan(self, loan_id: str) -> Loan | None:
        """One loan by its id."""
        key = self._k("loan", loan_id)
        found: dict[str, str] = await self._do("hgetall", lambda: self._client.hgetall(key))
        if not found:
            return None
        return _loan([x for pair in found.items() for x in pair])

    async def unconfirmed(self, *, now: datetime) -> list[LoanRequest]:
        """Held slots past their hold time and not yet expired, oldest first (entries
        of expired holds are dropped from the index on the way)."""
        answer = await self._script(
            "unconfirmed", [self._k("holds")], [self._p, _ms(now), self._listed_ms]
        )
        return [_request(flat) for flat in answer]

    # --- the outbox ------------------------------------------------------------------------

    async def outbox_read(self, consumer: str, count: int, *, wait_s: float) -> list[OutboxEntry]:
        """New events for ``consumer`` (Redis blocks up to ``wait_s`` for one)."""
        block = max(1, int(wait_s * 1000)) if wait_s > 0 else None
        found = await self._on_group(
            "xreadgroup",
            lambda: self._client.xreadgroup(
                GROUP, consumer, streams={self._outbox: ">"}, count=count, block=block
            ),
            extra_s=max(wait_s, 0),
        )
        if not found:
            return []
        return [
            OutboxEntry(entry.identifier, _event(dict(entry.field_values)))
            for entries in found.values()
            for entry in entries
        ]

    async def outbox_reclaim(
        self, consumer: str, count: int, *, min_idle_s: float
    ) -> list[OutboxEntry]:
        """Take over events another consumer read but never acknowledged."""
        answer = await self._on_group(
            "xautoclaim",
            lambda: self._client.xautoclaim(
                self._outbox, GROUP, consumer, int(min_idle_s * 1000), "0-0", count=count
            ),
        )
        return [
            OutboxEntry(entry.identifier, _event(dict(entry.field_values)))
            for entry in answer[1]
            if entry is not None
        ]

    async def outbox_ack(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge recorded events and delete them from the stream."""
        if not entry_ids:
            return
        ids = list(entry_ids)

        async def both() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.xack(self._outbox, GROUP, ids)
                pipe.xdel(self._outbox, ids)

        await self._do("xack", both)

    async def outbox_pending(self) -> int:
        """Events not yet acknowledged (acknowledged ones are deleted)."""
        return int(await self._do("xlen", lambda: self._client.xlen(self._outbox)))

    # --- sessions -------------------------------------------------------------------------

    async def _sessions(self, action: str, session_id: str, ttl_s: float, *fields: str) -> Any:
        now = int(time.time() * 1000)
        keys = [self._k("sessions")]
        if session_id:
            keys.append(self._k("session", session_id))
        args: list[str | int] = [action, now, now + int(ttl_s * 1000), self._p, *fields]
        return await self._script("sessions", keys, args)

    async def session_open(self, session_id: str, info: Mapping[str, str], *, ttl_s: float) -> None:
        """Record a session (one round trip)."""
        fields = [x for pair in {**info, "id": session_id}.items() for x in pair]
        await self._sessions("open", session_id, ttl_s, *fields)

    async def session_touch(self, session_id: str, *, ttl_s: float) -> bool:
        """Keep a session alive (one round trip)."""
        return bool(await self._sessions("touch", session_id, ttl_s))

    async def session_close(self, session_id: str) -> None:
        """Forget a session (one round trip)."""
        await self._sessions("close", session_id, 0)

    async def sessions(self) -> list[dict[str, str]]:
        """The live sessions of every gateway, soonest to expire first."""
        return [_fields(flat) for flat in await self._sessions("list", "", 0)]

    async def outbox_touch(self, consumer: str, entry_ids: Sequence[str]) -> list[str]:
        """Claim the still unacknowledged events for ``consumer``, idle from now."""
        if not entry_ids:
            return []
        ids = list(entry_ids)
        claimed = await self._on_group(
            "xclaim",
            lambda: self._client.xclaim(self._outbox, GROUP, consumer, 0, ids, justid=True),
        )
        return [str(x) for x in claimed]

    # --- ledger batches and receipts -------------------------------------------------------

    def _batch(self, member_id: str) -> str:
        return self._k("ledger-batch", member_id)

    async def save_batch(self, batch: PendingBatch) -> None:
        """Keep the member's pending batch (one HSET: root and JSON together)."""
        key = self._batch(batch.member_id)
        fields = {"root": batch.root.hex(), "batch": json.dumps(batch.to_json())}
        await self._do("hset", lambda: self._client.hset(key, fields))

    async def pending_batch(self, member_id: str) -> PendingBatch | None:
        """The member's pending batch."""
        key = self._batch(member_id)
        found = await self._do("hget", lambda: self._client.hget(key, "batch"))
        return PendingBatch.from_json(json.loads(found)) if found else None

    async def clear_batch(self, member_id: str, root: bytes) -> None:
        """Forget the member's pending batch if it is the one with ``root`` (atomic)."""
        await self._script("clearbatch", [self._batch(member_id)], [root.hex()])

    async def put_receipts(self, receipts: Sequence[tuple[str, Receipt]]) -> None:
        """Store receipts (compact, ``adapters.state.receipts``), salts by loan, and the
        leaves of every whole batch among them, in one transaction (one round trip)."""
        if not receipts:
            return
        trees = whole_trees([receipt for _, receipt in receipts])
        docs: dict[str, dict[str, bytes]] = {}
        salts: dict[str, dict[str, bytes]] = {}
        for entry_id, receipt in receipts:
            compact = encode_receipt(receipt, path_in_tree=receipt.merkle_root in trees)
            docs.setdefault(receipt.loan_id, {})[entry_id] = compact
            if receipt.salt is not None:
                salts.setdefault(receipt.loan_id, {})[entry_id] = receipt.salt

        async def write() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                for root, leaves in trees.items():
                    pipe.set(self._k("tree", root.hex()), leaves)
                for loan_id, fields in docs.items():
                    pipe.hset(self._k("receipts", loan_id), fields)
                for loan_id, fields in salts.items():
                    pipe.hset(self._k("salts", loan_id), fields)

        await self._do("put receipts", write)

    async def receipts(self, loan_id: str) -> list[Receipt]:
        """The loan's receipts in event order, with their salts where kept (either
        format; a path kept with the batch's leaves is computed again from them)."""

        async def read(key: str) -> dict[bytes, bytes]:
            with self._client.decoding(False):
                return dict(await self._client.hgetall(key))

        docs = await self._do("receipts", lambda: read(self._k("receipts", loan_id)))
        salts = await self._do("salts", lambda: read(self._k("salts", loan_id)))
        stored = []
        for raw_id in sorted(docs, key=lambda x: entry_order(x.decode())):
            salt = salts.get(raw_id)
            kept = None if salt is None else decode_salt(salt)
            stored.append(decode_receipt(loan_id, docs[raw_id], kept))
        roots = sorted({x.receipt.merkle_root for x in stored if x.path_in_tree})
        trees: dict[bytes, bytes] = {}
        if roots:
            keys = [self._k("tree", root.hex()) for root in roots]

            async def leaves() -> list[bytes | None]:
                with self._client.decoding(False):
                    return list(await self._client.mget(keys))

            found_leaves = await self._do("trees", leaves)
            trees = {r: x for r, x in zip(roots, found_leaves, strict=True) if x is not None}
        return [with_path(x, trees) for x in stored]

    async def shred_receipts(self, loan_id: str) -> int:
        """Delete the loan's salts (one HLEN and DEL, in one transaction)."""
        key = self._k("salts", loan_id)
        found: list[int] = []

        async def shred() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                count = pipe.hlen(key)
                pipe.delete([key])
            found.append(int(await count))

        await self._do("shred", shred)
        return found[0]

    # --- lending counters (their meaning is gateway/network/selection's) ------------------

    async def selection_update(
        self,
        event: SelectionEvent,
        *,
        lender: str | None,
        borrower: str | None,
        now: float,
        tau: float,
        turnaround_hours: float = 0.0,
        window: int = 20,
        consortium_window: int = 500,
    ) -> None:
        """Apply one lending event to the shared counters (one round trip, atomic)."""
        keys = [
            self._k("sel", lender or "-"),
            self._k("sel", borrower or "-"),
            self._k("sel-turnaround", lender or "-"),
            self._k("sel-turnaround"),
        ]
        args: list[str | int] = [
            event.value,
            repr(now),
            repr(tau),
            repr(turnaround_hours),
            window,
            consortium_window,
            "1" if lender else "0",
            "1" if borrower else "0",
        ]
        await self._script("selection", keys, args)

    async def selection_read(self, members: Sequence[str]) -> SelectionTallies:
        """The counters of ``members`` and the consortium's turnarounds (one round trip)."""
        names = list(members)

        async def read() -> list[Any]:
            async with self._client.pipeline(transaction=False) as pipe:
                calls = [pipe.hgetall(self._k("sel", m)) for m in names]
                calls += [pipe.lrange(self._k("sel-turnaround", m), 0, -1) for m in names]
                calls.append(pipe.lrange(self._k("sel-turnaround"), 0, -1))
            return [await call for call in calls]

        found = await self._do("selection read", read)
        count = len(names)
        return SelectionTallies(
            members={m: _tally(found[i], found[count + i]) for i, m in enumerate(names)},
            consortium_turnarounds=tuple(float(h) for h in found[-1]),
        )

    # --- refusal history -------------------------------------------------------------------

    async def refusal_record(self, record: RefusalRecord) -> None:
        """Add a refusal and trim the oldest past the bound (one transaction)."""
        # The tag keeps two identical refusals in the same millisecond apart.
        member = json.dumps({**record.to_json(), "tag": uuid.uuid4().hex[:12]})
        keep = self._refusal_history

        async def add() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zadd(self._refusals, {member: _ms(record.at)})
                pipe.zremrangebyrank(self._refusals, 0, -keep - 1)

        await self._do("refusal record", add)

    async def refusals_between(self, start: datetime, end: datetime) -> list[RefusalRecord]:
        """The refusals kept from ``start`` to ``end`` (excluded), oldest first."""
        low, high = _ms(start), _ms(end) - 1
        found = await self._do(
            "refusals",
            lambda: self._client.zrange(self._refusals, low, high, sortby=PureToken.BYSCORE),
        )
        return [RefusalRecord.from_json(json.loads(doc)) for doc in found]

    # --- title holds -----------------------------------------------------------------------

    def _copy_holds(self, lender: str, item: str, home: str) -> str:
        return self._k("thold-copy", f"{lender}|{item}|{home}")

    async def title_hold_open(self, hold: TitleHold) -> None:
        """Keep an open hold (one transaction: its document and both indexes)."""
        score = _ms(hold.placed)
        copy = self._copy_holds(hold.lender, hold.item, hold.home)

        async def add() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(self._k("tholds"), {hold.hold_id: json.dumps(hold.to_json())})
                pipe.zadd(self._k("tholds-by-time"), {hold.hold_id: score})
                pipe.zadd(copy, {hold.hold_id: score})

        await self._do("title hold open", add)

    async def _close_hold(
        self, how: str, hold_id: str, copy: str, outcome: str, at: datetime
    ) -> TitleHold | None:
        keys = [self._k("tholds"), self._k("tholds-by-time"), copy, self._k("tholds-closed")]
        args: list[str | int] = [
            how,
            hold_id,
            self._p,
            outcome,
            at.isoformat(),
            _ms(at),
            self._refusal_history,
        ]
        found = await self._script("tholdclose", keys, args)
        return TitleHold.from_json(json.loads(found)) if found else None

    async def title_hold_fill(
        self, lender: str, item: str, home: str, *, at: datetime
    ) -> TitleHold | None:
        """Close the oldest open hold on the copy for ``home`` as filled (one script)."""
        copy = self._copy_holds(lender, item, home)
        return await self._close_hold("fill", "", copy, "filled", at)

    async def title_hold_end(self, hold_id: str, *, outcome: str, at: datetime) -> TitleHold | None:
        """Close one open hold (one script)."""
        return await self._close_hold("end", hold_id, self._k("tholds-by-time"), outcome, at)

    async def title_holds_open(self) -> list[TitleHold]:
        """The open holds, oldest placed first (one round trip)."""
        docs: dict[str, str] = await self._do(
            "title holds", lambda: self._client.hgetall(self._k("tholds"))
        )
        holds = [TitleHold.from_json(json.loads(doc)) for doc in docs.values()]
        return sorted(holds, key=lambda h: (h.placed, h.hold_id))

    async def title_holds_closed_between(self, start: datetime, end: datetime) -> list[ClosedHold]:
        """The holds that ended from ``start`` to ``end`` (excluded), oldest first."""
        low, high = _ms(start), _ms(end) - 1
        found = await self._do(
            "closed holds",
            lambda: self._client.zrange(
                self._k("tholds-closed"), low, high, sortby=PureToken.BYSCORE
            ),
        )
        return [ClosedHold.from_json(json.loads(doc)) for doc in found]

    # --- shared breaker marks -------------------------------------------------------------

    def _breakers_key(self, member: str) -> str:
        return f"{self._namespace}:breakers:{{{member}}}"

    async def breaker_open(self, member: str, endpoint: str, *, ttl_s: float, by: str) -> None:
        """Mark an endpoint down until now + ``ttl_s`` (one round trip)."""
        key = self._breakers_key(member)
        until = int((time.time() + ttl_s) * 1000)

        async def mark() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(key, {endpoint: f"{until}|{by}"})
                pipe.pexpire(key, max(1, int(ttl_s * 1000)) + 60_000)

        await self._do("breaker open", mark)

    async def breakers(self, member: str, *, besides: str) -> dict[str, float]:
        """The live marks of ``member``'s endpoints set by other gateways (one round trip)."""
        key = self._breakers_key(member)
        found: dict[str, str] = await self._do("breakers", lambda: self._client.hgetall(key))
        now = time.time() * 1000
        marks: dict[str, float] = {}
        for endpoint, value in found.items():
            until, _, by = value.partition("|")
            if by != besides and until.isdigit() and int(until) > now:
                marks[endpoint] = (int(until) - now) / 1000
        return marks

    # --- throttles -------------------------------------------------------------------------

    def _bucket(self, bucket: str) -> str:
        return f"{self._namespace}:throttle:{{{bucket}}}"

    async def count(self, bucket: str) -> int:
        """The live count of ``bucket``."""
        key = self._bucket(bucket)
        found = await self._do("get", lambda: self._client.get(key))
        return int(found) if found else 0

    async def hit(self, bucket: str, *, window_s: float) -> int:
        """Add one to ``bucket`` (a fresh bucket expires ``window_s`` from now)."""
        return int(
            await self._script("hit", [self._bucket(bucket)], [max(1, int(window_s * 1000))])
        )

    async def reset(self, bucket: str) -> None:
        """Forget ``bucket``."""
        key = self._bucket(bucket)
        await self._do("del", lambda: self._client.delete([key]))
