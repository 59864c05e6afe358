"""A received MNS queue message: what :class:`~airflow_provider_imm.hooks.mns.MnsHook` returns and
the notification listener reads, in a module of its own so the listener need not import the hook."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MnsMessage"]


@dataclass(frozen=True)
class MnsMessage:
    """A received queue message. Times are milliseconds since the epoch, as MNS gives them."""

    message_id: str
    receipt_handle: str
    body: str
    dequeue_count: int
    enqueue_time: int
    first_dequeue_time: int
    #: When the message becomes visible again unless its visibility is changed.
    next_visible_time: int
