"""An asset watcher's trigger on an MNS queue: OSS events, IMM task notifications, or any message.

::

    trigger = MnsEventTrigger(mns_queue="imm-watch", source="oss", bucket="docs", prefix="inbox/")
    uploads = Asset("oss://docs/inbox", watchers=[AssetWatcher(name="inbox", trigger=trigger)])

or, through common.messaging, ``MessageQueueTrigger(scheme="alibaba+mns", mns_queue=..., ...)`` (the
same keyword arguments). Each message its
:class:`~airflow_provider_imm.utils.mns_event_filters.EventFilter` selects becomes one asset event
per object (or notification) whose payload is a small JSON record; the kwargs hold a connection id,
never a credential.

The queue must be the watcher's own, subscribed to the same topic as the deferral listener's, never
the connection's ``mns_queue``: the listener and the watchers would take each other's messages
(``imm-setup-notifications --watcher-queue`` creates one; a watcher on ``mns_queue`` warns).

Delivery (see :mod:`.mns_event_stream`): on Airflow 3.3 the triggerer runs one receive loop per
queue for all its watchers (a shared stream) and a message is deleted only after the asset events
made from it are stored, and marked stored in the asset's state store first, so that a redelivery
after a triggerer restart makes no second event (:mod:`.mns_shared_stream`); on Airflow 3.2 each
watcher receives on its own and deletes a message ``HOLD_SECONDS`` after the triggerer has taken its
events (nothing tells when they are stored), so a triggerer killed within the hold redelivers it,
and one killed before the store loses the events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Hashable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID, mns_name_problem
from airflow_provider_imm.triggers.mns_event_stream import Ticket
from airflow_provider_imm.triggers.mns_listener import ListenerKey, ListenerSettings
from airflow_provider_imm.utils.mns_event_filters import EventFilter, EventFilterError

if TYPE_CHECKING:
    from airflow.triggers.shared_stream import SharedStreamProducer

    from airflow_provider_imm.triggers.mns_event_stream import MnsEventStream

log = logging.getLogger(__name__)

#: The scheme common.messaging's ``MessageQueueTrigger`` finds this trigger by.
SCHEME = "alibaba+mns"
#: Defaults of a watcher's receive loop: long polls, and a short pause after a partial batch so a
#: burst is received 16 at a time (fewer requests per event, at most this much later).
WATCHER_SETTINGS = ListenerSettings(wait_seconds=20, receive_pause=0.2)
#: Without shared streams: how long after the hand-over of its events a message is deleted.
HOLD_SECONDS = 5.0


class MnsEventTrigger(BaseEventTrigger):
    """Fires an asset event for each message of ``queue`` its filter selects.

    :param mns_queue: the watcher's MNS queue (not the connection's extra ``mns_queue``: that one is
        the deferral listener's). Not ``queue``: common.messaging's trigger keeps that name.
    :param imm_conn_id: the ``imm`` connection whose MNS endpoint and credentials are used.
    :param source: ``oss`` (OSS event notifications), ``imm`` (IMM task notifications) or ``raw``.
    :param orphan_grace: seconds after which a message no watcher wants is deleted.
    :param filter_fields: the filter of ``source``: ``bucket``, ``prefix``, ``suffix``, ``glob``,
        ``events`` for OSS; ``task_types``, ``projects``, ``statuses``, ``tags`` for IMM.
    """

    def __init__(
        self,
        *,
        mns_queue: str,
        imm_conn_id: str = DEFAULT_CONN_ID,
        source: str = "oss",
        orphan_grace: float = WATCHER_SETTINGS.orphan_grace,
        **filter_fields: Any,
    ) -> None:
        super().__init__()
        problem = mns_name_problem(mns_queue) if isinstance(mns_queue, str) else "must be a string"
        if problem:
            raise EventFilterError("mns_queue", f"MNS queue {problem}")
        if not isinstance(imm_conn_id, str) or not imm_conn_id:
            raise EventFilterError("imm_conn_id", "takes the id of an imm connection")
        if not isinstance(orphan_grace, (int, float)) or orphan_grace <= 0:
            raise EventFilterError("orphan_grace", "takes a positive number of seconds")
        self.mns_queue = mns_queue
        self.imm_conn_id = imm_conn_id
        self.orphan_grace = float(orphan_grace)
        self.filter = EventFilter.from_kwargs(source, **filter_fields)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {"mns_queue": self.mns_queue, "imm_conn_id": self.imm_conn_id}
        if self.orphan_grace != WATCHER_SETTINGS.orphan_grace:
            kwargs["orphan_grace"] = self.orphan_grace
        kwargs.update(self.filter.to_kwargs())
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    # Airflow 3.3: one receive loop per queue, deletes after the events are stored
    def shared_stream_key(self) -> Hashable | None:
        return (SCHEME, self.imm_conn_id, self.mns_queue, self.orphan_grace)

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SharedStreamProducer:
        from airflow_provider_imm.triggers.mns_shared_stream import MnsStreamProducer

        return MnsStreamProducer(kwargs["imm_conn_id"], kwargs["mns_queue"], kwargs.get("orphan_grace"))

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """Makes no event for a redelivered message this watcher's asset state store has marked
        stored (see :mod:`.mns_shared_stream`); the stream deletes it."""
        from airflow_provider_imm.triggers.mns_shared_stream import marking_store, was_stored

        # Airflow 3.3 gives a watcher of assets their state store; none when run outside a triggerer.
        store = await marking_store(getattr(self, "asset_state_store", None), self.mns_queue)
        async for message in shared_stream:
            payloads = self._payloads(message)
            if payloads and store is not None:
                message.marks[store] = await was_stored(store, message)
                if message.marks[store]:
                    continue
            for payload in payloads:
                yield TriggerEvent(payload)

    # Airflow 3.2 (or run outside a shared stream): a loop per watcher
    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Deletes a message ``HOLD_SECONDS`` after its events were taken by the triggerer: nothing
        says when they are stored, and by then they almost surely are (the triggerer hands events
        over every second or so). A triggerer killed within the hold gets the message delivered
        again (a second asset event); killed between the hand-over and the store, it loses them."""
        stream = await open_stream(self.imm_conn_id, self.mns_queue, self.orphan_grace)
        held: list[tuple[float, Ticket]] = []

        def wait() -> int:
            return max(0, int(held[0][0] - time.monotonic() + 0.999)) if held else 20

        try:
            async for tickets in stream.batches(wait):
                for ticket in tickets:
                    for payload in self._payloads(ticket.message):
                        yield TriggerEvent(payload)
                    if ticket.message.selected:
                        stream.remember(ticket.message)
                        held.append((time.monotonic() + HOLD_SECONDS, ticket))
                unwanted = [(ticket, True) for ticket in tickets if not ticket.message.selected]
                if unwanted:
                    await stream.settle(unwanted)
                due = [ticket for until, ticket in held if until <= time.monotonic()]
                if due:
                    held = held[len(due) :]
                    await stream.settle([(ticket, True) for ticket in due])
        finally:
            await stream.aclose()

    def _payloads(self, message: Any) -> list[dict[str, Any]]:
        """The payloads of a :class:`WatchedMessage`; marks it selected. Never raises on a body."""
        if message.delivered:
            return []
        try:
            payloads = self.filter.select(message.body, message.message_id)
        except Exception:
            log.exception("MNS queue %s: filter failed on message %s", self.mns_queue, message.message_id)
            return []
        if payloads:
            message.selected = True
            if message.handed_over is None:
                message.handed_over = time.monotonic()
        return payloads


async def open_stream(conn_id: str, queue: str, orphan_grace: float | None) -> MnsEventStream:
    """The receive loop of ``queue`` through connection ``conn_id``'s MNS endpoint and credentials."""
    from airflow_provider_imm.hooks.mns import MnsHook
    from airflow_provider_imm.triggers.mns_event_stream import MnsEventStream

    hook = await MnsHook.afor_connection(conn_id)
    settings = hook.settings
    if settings.mns_queue == queue:
        log.warning(
            "MNS queue %r is connection %r's mns_queue, the one deferred IMM tasks wait on: watchers "
            "and waiting tasks would take each other's messages. Give the watcher a queue of its own "
            "subscribed to the same topic (imm-setup-notifications --watcher-queue NAME).",
            queue,
            conn_id,
        )
    await asyncio.to_thread(_preload)
    key = ListenerKey.build(hook.endpoint, queue, settings.credential_identity)
    tuning = WATCHER_SETTINGS
    if orphan_grace is not None and orphan_grace != tuning.orphan_grace:
        from dataclasses import replace

        tuning = replace(tuning, orphan_grace=float(orphan_grace))
    return MnsEventStream(key, lambda: hook, tuning)


def _preload() -> None:
    from airflow_provider_imm import sdk

    sdk.preload()


__all__ = ["SCHEME", "MnsEventTrigger", "Ticket"]
