"""The receive loop of an MNS queue read by asset watchers, and what becomes of each message.

Built from the deferral listener's machinery (:mod:`.mns_listener`): its worker thread and client per
thread (the MNS SDK is blocking and not thread-safe), its error backoff logged once per streak, its
orphan rule (:func:`~.notification_channel.orphan_hiding`, deleted only past ``orphan_grace``) and its
settings. What differs is who decides a message's fate: the listener hands notifications to the
trigger waiting for a TaskId; here every watcher of the queue looks at every message
(:class:`WatchedMessage`) and the stream settles it afterwards (:func:`disposal`):

* selected by a watcher and its asset event stored: deleted (batched), and its id remembered, so a
  redelivery of it (a delete that failed, a handle that lapsed, MNS's at-least-once) makes no
  second event in this process and is deleted at once (across a triggerer restart, Airflow 3.3's
  asset state store does the same: :mod:`.mns_shared_stream`);
* selected, but the event's storing was not confirmed (Airflow's ack timeout, a failing store):
  left hidden as the receive left it; MNS redelivers it after the visibility timeout;
* selected by no watcher (another consumer's, unreadable, oversized): given back as the listener
  gives back orphans, deleted only once older than ``orphan_grace``.

With Airflow 3.3's shared streams (:mod:`.mns_shared_stream`) the triggerer runs one loop per queue
whatever the number of watchers, and settles a message only after the asset events made from it are
stored. Without them (Airflow 3.2, or common.messaging's ``MessageQueueTrigger`` run directly), each
watcher runs its own loop and settles a message a few seconds after the triggerer has taken its
events (:attr:`~.mns_event.HOLD_SECONDS`): a triggerer that dies between taking the events and
storing them loses them, one that dies within the hold gets the message delivered again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

from airflow_provider_imm.triggers.mns_listener import (
    ListenerKey,
    ListenerSettings,
    ListenerStats,
    QueueClient,
    QueueClientFactory,
    QueueUpkeep,
    ReceivedMessage,
    _describe,
    _error_code,
    _Lane,
    _receive,
    _ThreadState,
    _WorkerThread,
    log_recovered,
    queue_visibility,
)
from airflow_provider_imm.triggers.notification_channel import LEAVE, Backoff, orphan_hiding

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many stored message ids a process remembers per queue, to drop redeliveries.
DELIVERED_MEMORY = 100_000

Verdict = Literal["stored", "unconfirmed", "unwanted"]


@dataclass
class WatchedMessage:
    """One received message as every watcher of the queue sees it (a shared stream's raw event).

    The same object reaches every watcher of the stream; a watcher whose filter selects it sets
    :attr:`selected`, which is how the stream tells "stored" from "nobody wanted it".
    """

    message_id: str
    body: str
    #: Milliseconds since the epoch (MNS's).
    enqueue_time: int
    dequeue_count: int
    #: Its asset events were stored before (a redelivery): watchers make none, the stream deletes it.
    delivered: bool = False
    selected: bool = False
    #: Airflow 3.3: the asset state store of each watcher that selected it -> whether that store
    #: already holds the message's mark (a redelivery whose events were stored before a restart).
    marks: dict[Any, bool] = field(default_factory=dict)
    #: When a watcher first handed its events over (monotonic): how long marking took after that.
    handed_over: float | None = None


@dataclass
class Ticket:
    """What the stream needs to settle a message later (a shared stream's broker payload). A copy of
    the message received again while this one waits takes its place here (its handle, its hiding)."""

    message: WatchedMessage
    receipt_handle: str
    #: When the receive's hiding ends (monotonic): after it the handle has lapsed.
    expires: float


def verdict_of(message: WatchedMessage, *, stored: bool) -> Verdict:
    """``stored``: whatever the watchers made of the message was stored (or nothing was made)."""
    if not message.selected:
        return "unwanted"
    return "stored" if stored else "unconfirmed"


def disposal(
    verdict: Verdict,
    message: WatchedMessage,
    *,
    now: float,
    visibility: float | None,
    settings: ListenerSettings,
) -> int | None:
    """What to do with a settled message: ``None`` deletes it, ``LEAVE`` leaves it hidden as the
    receive left it, a number hides it for that many seconds (0: visible again at once)."""
    if message.delivered or verdict == "stored":
        return None
    if verdict == "unconfirmed":
        return LEAVE
    if now - message.enqueue_time / 1000 > settings.orphan_grace:
        return None
    return orphan_hiding(message.dequeue_count, visibility, settings.orphan_max_hidden)


#: Per queue: ids of messages whose events were stored -> the state stores holding their marks.
_delivered: dict[ListenerKey, OrderedDict[str, tuple[Any, ...]]] = {}
_stats: dict[ListenerKey, ListenerStats] = {}


def stream_stats(key: ListenerKey) -> ListenerStats:
    """This process's counters for the queue of ``key`` (every stream of it, one after another)."""
    return _stats.setdefault(key, ListenerStats())


class MnsEventStream:
    """Receives from one queue for its watchers and settles what they made of each message."""

    def __init__(
        self, key: ListenerKey, client_factory: QueueClientFactory, settings: ListenerSettings
    ) -> None:
        self.key = key
        self.settings = settings
        self.stats = stream_stats(key)
        self._delivered = _delivered.setdefault(key, OrderedDict())
        self._lane = _Lane(_WorkerThread(f"imm-mns-watcher {key.queue}"), _ThreadState(client_factory))
        self._visibility: float | None = None
        self._upkeep = QueueUpkeep(
            key, settings, self.stats, log, redelivered=" (no second asset event in this process)"
        )
        #: Message id -> the ticket of a message handed to the watchers and not settled yet.
        self._waiting: dict[str, Ticket] = {}

    async def batches(self, wait: Callable[[], int] | None = None) -> AsyncIterator[list[Ticket]]:
        """Receive forever: one list per receive (empty when nothing came). MNS errors back off.
        ``wait``: the long poll's seconds for the next receive (default: the settings')."""
        settings = self.settings
        backoff = settings.backoff()
        while True:
            seconds = settings.wait_seconds if wait is None else min(settings.wait_seconds, wait())
            try:
                received: list[ReceivedMessage] = await self._call(
                    partial(_receive, self.key.queue, (settings.batch_size, seconds))
                )
            except Exception as err:
                await self._failed(err, backoff)
                continue
            self.stats.receives += 1
            log_recovered(self.key, backoff)
            if not received:
                yield []
                continue
            self.stats.received += len(received)
            now = time.monotonic()
            tickets = []
            for m in received:
                if m.dequeue_count <= 1:
                    self._visibility = queue_visibility(m) or self._visibility
                hidden = (m.next_visible_time / 1000 - time.time()) if m.next_visible_time else 0.0
                waiting = self._waiting.get(m.message_id)
                if waiting is not None:
                    # Back while its first copy still waits for Airflow to store its events (the
                    # hiding ran out first): not handed to the watchers again, the wait goes on
                    # with this copy's handle.
                    waiting.receipt_handle, waiting.expires = m.receipt_handle, now + max(0.0, hidden)
                    self.stats.duplicates += 1
                    continue
                message = WatchedMessage(m.message_id, m.body, m.enqueue_time, m.dequeue_count)
                marked = self._delivered.get(m.message_id)
                message.delivered = marked is not None
                # Its marks (if the delete that failed left them) go when this copy is deleted.
                message.marks = dict.fromkeys(marked or (), True)
                if message.delivered:
                    self.stats.duplicates += 1  # a redelivery of a stored message
                ticket = self._waiting[m.message_id] = Ticket(
                    message, m.receipt_handle, now + max(0.0, hidden)
                )
                tickets.append(ticket)
            yield tickets
            if len(received) < settings.batch_size and settings.receive_pause:
                # Let a burst gather: the next receive takes several messages in one request.
                await asyncio.sleep(settings.receive_pause)

    async def settle(self, items: Sequence[tuple[Ticket, bool]]) -> None:
        """Settle messages the watchers are done with; each comes with whether the events made from
        it (if any) are stored. Deletes are batched; see :func:`disposal` for the rest."""
        await self.delete(await self.sort_out(items))

    async def sort_out(self, items: Sequence[tuple[Ticket, bool]]) -> list[Ticket]:
        """Give back or leave what :func:`disposal` says; return the tickets to delete (not deleted
        yet: the shared stream marks them first)."""
        now, wall = time.monotonic(), time.time()
        deletes: list[Ticket] = []
        for ticket, stored in items:
            message = ticket.message
            self._waiting.pop(message.message_id, None)
            verdict = verdict_of(message, stored=stored)
            if verdict == "unwanted" and not message.delivered:
                self._upkeep.left(message, "selected by no watcher", logging.INFO)
            action = disposal(verdict, message, now=wall, visibility=self._visibility, settings=self.settings)
            if action is None:
                if verdict == "stored":
                    self._remember(message)
                elif verdict == "unwanted" and not message.delivered:
                    self.stats.dropped += 1
                deletes.append(ticket)
            elif action != LEAVE and now < ticket.expires:
                await self._upkeep.give_back(self._lane, ticket.receipt_handle, action)
        return deletes

    async def delete(self, tickets: Sequence[Ticket]) -> list[Ticket]:
        """Delete in batches; return the tickets MNS deleted (not those it refused or a failed call)."""
        deleted: list[Ticket] = []
        for start in range(0, len(tickets), self.settings.batch_size):
            batch = tickets[start : start + self.settings.batch_size]
            # Not deleted: they come back, are known here as stored, and are deleted then.
            refused = await self._upkeep.delete(self._lane, [t.receipt_handle for t in batch])
            if refused is not None:
                deleted.extend(t for t in batch if t.receipt_handle not in refused)
        return deleted

    async def aclose(self) -> None:
        self._lane.worker.stop()

    def remember(self, message: WatchedMessage) -> None:
        """``message``'s events were handed over: a redelivery of it makes none."""
        self._remember(message)

    def _remember(self, message: WatchedMessage) -> None:
        self._delivered[message.message_id] = tuple(message.marks)
        self._delivered.move_to_end(message.message_id)
        while len(self._delivered) > DELIVERED_MEMORY:
            self._delivered.popitem(last=False)

    async def _call(self, fn: Callable[[QueueClient], T]) -> T:
        self.stats.requests += 1
        return await self._lane.run(fn)

    async def _failed(self, err: BaseException, backoff: Backoff) -> None:
        self.stats.errors += 1
        first = backoff.failed()
        self._lane.state.client = None  # reconnect: the connection may be broken
        if first:
            log.warning(
                "MNS queue %s: receive failed (%s); retrying with backoff, nothing is lost (messages "
                "stay in the queue)%s",
                self.key,
                _describe(err),
                ": create it with `imm-setup-notifications --watcher-queue`"
                if _error_code(err) == "QueueNotExist"
                else "",
            )
        else:
            log.debug("MNS queue %s: receive failed again (%s)", self.key, _describe(err))
        await asyncio.sleep(backoff.next_delay())


__all__ = ["MnsEventStream", "QueueClient", "Ticket", "Verdict", "WatchedMessage", "disposal", "stream_stats"]
