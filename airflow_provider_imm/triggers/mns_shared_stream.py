"""Airflow 3.3's shared stream in ack mode for MNS watchers: receive -> (events stored) -> mark -> delete.

Imported only where ``airflow.triggers.shared_stream`` exists (Airflow 3.3): the triggerer calls
:meth:`MnsEventTrigger.create_shared_stream_producer` once per queue, broadcasts every received
message to every watcher of the queue, and calls :meth:`MnsStreamProducer.advance` with messages
whose watchers have all moved past them and whose asset events are stored. Only then is a message
deleted; see :mod:`.mns_event_stream` for what becomes of the others. A message a watcher rejects
(``reject_shared_stream_event``, which these watchers never call) would be treated as unwanted.

Redeliveries across a triggerer restart. Airflow keeps which events were stored in memory only, so
after a restart MNS redelivers every message not deleted yet, and "subscribers must be idempotent".
A message whose events are stored but whose delete fails (its receipt handle lapsed, MNS refused or
did not answer) stays in the queue: :meth:`MnsStreamProducer.advance` then writes a mark
(:func:`mark_key`) into the asset state store of each watcher that made events from it (the store
Airflow 3.3 gives every asset watcher, kept in the metadata database). A watcher that receives a
message again (``DequeueCount`` > 1, the only ones it looks up) and finds its mark makes no event,
and the message is deleted. Once MNS has deleted a marked message it cannot come back, so its marks
are removed right after: the asset state store has no expiry, and this keeps it to the messages in
flight. A triggerer killed between a delete and that removal leaves those few marks behind until
the asset is removed.

Only a failed delete is marked, not every message before its delete: a mark and its removal are two
requests through the triggerer's supervisor, which answers its triggers one request at a time, and
at 50 uploads a second marking every message held up the hand-over of new events (upload -> run
queued p99 5.6 s against 2.2 s without marks, ``benchmarks/event_latency.py``). What a mark before
every delete would add is a triggerer killed during the delete call itself.

What remains: a triggerer killed after Airflow stored an event and before the delete (or the mark of
a failed one) still redelivers the message, and the new triggerer makes a second event. The mark
cannot come earlier: the stream learns that an event is stored only from Airflow's persist
confirmation, which arrives with the triggerer's next state sync after the whole batch of events it
took was stored (about a second, longer in a burst); a mark written before would lose the event of a
triggerer killed before the store, which is worse. Nothing a trigger may ask the supervisor reads
the asset events themselves, so a restarted triggerer cannot look them up instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer

if TYPE_CHECKING:
    from airflow_provider_imm.triggers.mns_event_stream import MnsEventStream, Ticket, WatchedMessage

log = logging.getLogger(__name__)

#: The asset state store key of a message whose events were stored (``mns-message:<MessageId>``).
MARK_PREFIX = "mns-message:"


def mark_key(message_id: str) -> str:
    return f"{MARK_PREFIX}{message_id}"


async def marking_store(store: Any, watcher: str) -> Any | None:
    """``store`` if it can hold this watcher's marks, else None. Airflow 3.3's accessors answer
    ``aget``/``aset`` without an asset named only for a trigger that watches one asset, and raise
    ``ValueError`` before any I/O otherwise: such a watcher gets no marks, said once here rather than
    on every message. Any other failure of this first lookup leaves the store in use: each later call
    tolerates its own failures."""
    if store is None:
        return None
    try:
        await store.aget(mark_key("-"))
    except ValueError:
        log.warning(
            "Watcher %s watches several assets: its messages are not marked in the asset state store, "
            "so a triggerer restart may make second events; give each asset a watcher of its own",
            watcher,
        )
        return None
    except Exception:
        return store  # a passing failure: the calls of each message tolerate and log their own
    return store


async def was_stored(store: Any, message: WatchedMessage) -> bool:
    """A redelivered message whose events this watcher's asset already has. Only a message received
    before can have been stored, so a first delivery costs no lookup. A failed lookup says no: a
    second event is better than a lost one."""
    if message.dequeue_count <= 1:
        return False
    try:
        return await store.aget(mark_key(message.message_id)) is not None
    except Exception as err:
        log.warning(
            "Asset state store lookup of MNS message %s failed (%s): its events are made again",
            message.message_id,
            type(err).__name__,
        )
        return False


class MnsStreamProducer(SharedStreamProducer):
    """Owns one queue's receive loop for the lifetime of one shared poll."""

    def __init__(self, conn_id: str, queue: str, orphan_grace: float | None) -> None:
        self.conn_id = conn_id
        self.queue = queue
        self.orphan_grace = orphan_grace
        self.stream: MnsEventStream | None = None
        self._mark_failed = False

    async def open_stream(self) -> AsyncIterator[tuple[WatchedMessage, Ticket]]:
        from airflow_provider_imm.triggers.mns_event import open_stream

        self.stream = await open_stream(self.conn_id, self.queue, self.orphan_grace)
        async for tickets in self.stream.batches():
            for ticket in tickets:  # none after an empty receive
                yield ticket.message, ticket

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        if self.stream is None:
            return
        items: list[tuple[Ticket, bool]] = [
            (item.broker_payload, _stored(item)) for item in batch if item.broker_payload is not None
        ]
        deletes = await self.stream.sort_out(items)
        deleted = await self.stream.delete(deletes)
        if len(deleted) < len(deletes):
            done = {id(t) for t in deleted}
            kept = [t for t in deletes if id(t) not in done]
            log.info(
                "MNS queue %s: %d of %d messages not deleted (receipt handle lapsed or delete failed); "
                "they come back and are deleted then, marked stored until then",
                self.queue,
                len(kept),
                len(deletes),
            )
            await self._mark(kept)
        # The marks of messages deleted now: written when an earlier delete of theirs failed.
        failures = await _each(deleted, lambda store, key: store.adelete(key), marked=True)
        if failures:
            log.warning(
                "MNS queue %s: removing the marks of %d deleted messages from the asset state store "
                "failed (%s); they stay until the asset is removed",
                self.queue,
                len(failures),
                _describe(failures[0]),
            )

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()

    async def _mark(self, tickets: Sequence[Ticket]) -> None:
        """Mark messages whose events are stored and whose delete failed in their watchers' stores,
        all at once. A failed mark is logged: a triggerer killed before the message is deleted makes
        its events again."""
        now = time.monotonic()
        waited = [now - t.message.handed_over for t in tickets if t.message.handed_over is not None]
        failures = await _each(
            tickets, lambda store, key: store.aset(key, round(time.time(), 3)), marked=False
        )
        if waited:
            log.debug(
                "MNS queue %s: %d messages marked stored %.2f-%.2f s after their events were handed over",
                self.queue,
                len(waited),
                min(waited),
                max(waited),
            )
        if failures and not self._mark_failed:
            log.warning(
                "MNS queue %s: marking %d messages stored in the asset state store failed (%s); a "
                "triggerer killed before they are deleted would make their events again",
                self.queue,
                len(failures),
                _describe(failures[0]),
            )
        self._mark_failed = bool(failures)


async def _each(tickets: Sequence[Ticket], call: Any, *, marked: bool) -> list[BaseException]:
    """``call(store, key)`` for each watcher store of each ticket's message whose mark is there
    (``marked``) or not yet, sent concurrently (the triggerer's supervisor answers them one by one,
    a request each to the API server)."""
    calls = [
        call(store, mark_key(t.message.message_id))
        for t in tickets
        for store, is_marked in t.message.marks.items()
        if is_marked == marked
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    return [r for r in results if isinstance(r, BaseException)]


def _describe(err: BaseException) -> str:
    """The error's type and a short excerpt of its text (never a value of ours: keys are ids)."""
    return f"{type(err).__name__}: {str(err)[:200]}"


def _stored(item: Any) -> bool:
    """Every watcher online at broadcast moved past the message with its events stored."""
    return bool(item.outcome.is_clean)
