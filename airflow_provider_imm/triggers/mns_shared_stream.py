"""Airflow 3.3's shared stream in ack mode for MNS watchers: receive -> (events stored) -> delete.

Imported only where ``airflow.triggers.shared_stream`` exists (Airflow 3.3): the triggerer calls
:meth:`MnsEventTrigger.create_shared_stream_producer` once per queue, broadcasts every received
message to every watcher of the queue, and calls :meth:`MnsStreamProducer.advance` with messages
whose watchers have all moved past them and whose asset events are stored. Only then is a message
deleted; see :mod:`.mns_event_stream` for what becomes of the others. A message a watcher rejects
(``reject_shared_stream_event``, which these watchers never call) would be treated as unwanted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer

if TYPE_CHECKING:
    from airflow_provider_imm.triggers.mns_event_stream import MnsEventStream, Ticket, WatchedMessage


class MnsStreamProducer(SharedStreamProducer):
    """Owns one queue's receive loop for the lifetime of one shared poll."""

    def __init__(self, conn_id: str, queue: str, orphan_grace: float | None) -> None:
        self.conn_id = conn_id
        self.queue = queue
        self.orphan_grace = orphan_grace
        self.stream: MnsEventStream | None = None

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
        await self.stream.settle(items)

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()


def _stored(item: Any) -> bool:
    """Every watcher online at broadcast moved past the message with its events stored."""
    return bool(item.outcome.is_clean)
