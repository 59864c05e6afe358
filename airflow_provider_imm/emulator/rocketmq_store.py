"""The emulated ApsaraMQ for RocketMQ 5.x instance: topics, consumer groups, at-least-once delivery.

Pure state, no gRPC (that is :mod:`rocketmq_api`). Like RocketMQ 5's pop consumption, which its
``SimpleConsumer`` uses: each consumer group gets every message of a topic sent after the group
exists; a receive hides a message from the group for an invisible duration and gives it a receipt
handle; an ack with the latest handle removes it; a message not acked in time is delivered again,
with a new handle and ``delivery_attempt`` one higher. Changing the invisible duration renews the
handle (the old one is refused from then on). Only the server loop touches it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

#: RocketMQ's names for topics and groups (``Misc.is_valid_topic`` in the client).
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%|_-")
MAX_NAME = 127
#: The proxy's bounds on a receive's invisible duration, seconds (``minInvisibleTimeMillsForRecv``,
#: ``maxInvisibleTimeMills``); ChangeInvisibleDuration may set anything from 0 up to the maximum.
MIN_INVISIBLE = 10.0
MAX_INVISIBLE = 12 * 3600.0
MAX_BODY = 4 * 1024 * 1024


class RocketMqError(Exception):
    """A refusal with RocketMQ's status code name (``TOPIC_NOT_FOUND``...) and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    topic: str
    body: bytes
    tag: str
    keys: tuple[str, ...]
    properties: dict[str, str]
    born_timestamp: float
    born_host: str
    store_timestamp: float
    offset: int


@dataclass
class Delivery:
    """One message in one group: visible, or hidden until ``visible_at`` under ``handle``."""

    message: StoredMessage
    attempts: int = 0
    handle: str | None = None
    visible_at: float = 0.0


@dataclass
class _Group:
    ready: dict[str, deque[Delivery]] = field(default_factory=dict)
    hidden: dict[str, Delivery] = field(default_factory=dict)
    #: (visible_at, seq, handle): hidden deliveries by when they come back (stale entries skipped).
    expiries: list[tuple[float, int, str]] = field(default_factory=list)
    #: Message id -> the delivery attempt that was acked (what a test reads back; a few bytes each).
    acked: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageState:
    """One message as its group saw it: how often it was received, and whether it was acked."""

    attempts: int
    acked: bool


def check_name(kind: str, name: str) -> None:
    if not name or len(name) > MAX_NAME or not set(name) <= NAME_CHARS:
        code = "ILLEGAL_TOPIC" if kind == "topic" else "ILLEGAL_CONSUMER_GROUP"
        raise RocketMqError(
            code, f"{kind} {name[:40]!r} is not a RocketMQ name: 1-{MAX_NAME} of letters, digits, %|_-"
        )


class RocketMqStore:
    """One instance's topics and groups; ``now`` is monotonic seconds (tests may pass their own)."""

    def __init__(
        self,
        instance_id: str,
        *,
        min_invisible: float = MIN_INVISIBLE,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.instance_id = instance_id
        self.min_invisible = min_invisible
        self.now = now
        self._topics: dict[str, list[StoredMessage]] = {}
        self._groups: dict[str, _Group] = {}
        self._seq = itertools.count()
        self._changed = asyncio.Event()

    # Resources
    def create_topic(self, name: str) -> bool:
        """False when it already existed."""
        check_name("topic", name)
        if name in self._topics:
            return False
        self._topics[name] = []
        return True

    def create_group(self, name: str) -> bool:
        check_name("group", name)
        if name in self._groups:
            return False
        self._groups[name] = _Group()
        return True

    def has_topic(self, name: str) -> bool:
        return name in self._topics

    def has_group(self, name: str) -> bool:
        return name in self._groups

    def topic_names(self) -> list[str]:
        return sorted(self._topics)

    def group_names(self) -> list[str]:
        return sorted(self._groups)

    def require_topic(self, name: str) -> list[StoredMessage]:
        log = self._topics.get(name)
        if log is None:
            raise RocketMqError(
                "TOPIC_NOT_FOUND", f"topic {name[:60]!r} does not exist on {self.instance_id}"
            )
        return log

    def _require_group(self, name: str) -> _Group:
        group = self._groups.get(name)
        if group is None:
            raise RocketMqError(
                "CONSUMER_GROUP_NOT_FOUND",
                f"consumer group {name[:60]!r} does not exist on {self.instance_id}",
            )
        return group

    # Producing
    def send(
        self,
        topic: str,
        body: bytes,
        *,
        message_id: str | None = None,
        tag: str = "",
        keys: tuple[str, ...] = (),
        properties: dict[str, str] | None = None,
        born_timestamp: float | None = None,
        born_host: str = "",
    ) -> StoredMessage:
        log = self.require_topic(topic)
        if not body:
            raise RocketMqError("MESSAGE_BODY_EMPTY", "message body is empty")
        if len(body) > MAX_BODY:
            raise RocketMqError("MESSAGE_BODY_TOO_LARGE", f"message body is over {MAX_BODY} bytes")
        stamp = time.time()
        message = StoredMessage(
            message_id or uuid.uuid4().hex.upper(),
            topic,
            body,
            tag,
            keys,
            dict(properties or {}),
            stamp if born_timestamp is None else born_timestamp,
            born_host,
            stamp,
            len(log),
        )
        log.append(message)
        for group in self._groups.values():
            group.ready.setdefault(topic, deque()).append(Delivery(message))
        self._wake()
        return message

    # Consuming
    def receive(self, group_name: str, topic: str, batch: int, invisible: float) -> list[Delivery]:
        """Up to ``batch`` visible messages, hidden for ``invisible`` seconds; [] when none is."""
        self.require_topic(topic)
        group = self._require_group(group_name)
        if not self.min_invisible <= invisible <= MAX_INVISIBLE:
            raise RocketMqError(
                "ILLEGAL_INVISIBLE_TIME",
                f"invisible duration {invisible:g} s is outside {self.min_invisible:g}..{MAX_INVISIBLE:g} s",
            )
        if batch < 1 or batch > 32:
            raise RocketMqError("BAD_REQUEST", f"batch size {batch} is outside 1..32")
        now = self.now()
        self._expire(group, now)
        ready = group.ready.get(topic)
        taken: list[Delivery] = []
        while ready and len(taken) < batch:
            delivery = ready.popleft()
            delivery.attempts += 1
            self._hide(group, delivery, now + invisible)
            taken.append(delivery)
        return taken

    def ack(self, group_name: str, handle: str) -> StoredMessage:
        group = self._require_group(group_name)
        self._expire(group, self.now())
        delivery = group.hidden.pop(handle, None)
        if delivery is None:
            raise RocketMqError("INVALID_RECEIPT_HANDLE", "receipt handle is unknown or has expired")
        group.acked[delivery.message.message_id] = delivery.attempts
        return delivery.message

    def change_invisible(self, group_name: str, handle: str, invisible: float) -> str:
        """Hide the message for ``invisible`` seconds from now (0: visible at once); its new handle."""
        group = self._require_group(group_name)
        if not 0 <= invisible <= MAX_INVISIBLE:
            raise RocketMqError(
                "ILLEGAL_INVISIBLE_TIME", f"invisible duration {invisible:g} s is out of range"
            )
        now = self.now()
        self._expire(group, now)
        delivery = group.hidden.pop(handle, None)
        if delivery is None:
            raise RocketMqError("INVALID_RECEIPT_HANDLE", "receipt handle is unknown or has expired")
        self._hide(group, delivery, now + invisible)
        if invisible == 0:
            self._expire(group, now)
            self._wake()
        return str(delivery.handle)

    def backlog(self, group_name: str) -> int:
        """Messages of the group not acked yet, visible or hidden."""
        group = self._require_group(group_name)
        return sum(len(ready) for ready in group.ready.values()) + len(group.hidden)

    def message_states(self, group_name: str) -> dict[str, MessageState]:
        """Per message id, every message the group got: a test tells from it what was acked, what
        was received again (``attempts`` above 1), what is still pending."""
        group = self._require_group(group_name)
        states = {message_id: MessageState(attempts, True) for message_id, attempts in group.acked.items()}
        pending = [*group.hidden.values(), *(d for ready in group.ready.values() for d in ready)]
        states.update((d.message.message_id, MessageState(d.attempts, False)) for d in pending)
        return states

    def next_visible(self) -> float | None:
        """When the earliest hidden message of any group comes back (monotonic), if any."""
        times = [group.expiries[0][0] for group in self._groups.values() if group.expiries]
        return min(times) if times else None

    def changed(self) -> asyncio.Event:
        """Set whenever a message may have become visible, or will sooner than waiters were told by
        :meth:`next_visible`; waiters take the current event."""
        return self._changed

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _hide(self, group: _Group, delivery: Delivery, until: float) -> None:
        earliest = self.next_visible()
        delivery.handle = f"{uuid.uuid4().hex}-{next(self._seq)}"
        delivery.visible_at = until
        group.hidden[delivery.handle] = delivery
        heapq.heappush(group.expiries, (until, next(self._seq), delivery.handle))
        if earliest is None or until < earliest:
            # Long polls sleep until the earliest return they saw; this one comes sooner (a message
            # given back for a second): wake them to look again, as the service's long polling is
            # told of a message's return.
            self._wake()

    @staticmethod
    def _expire(group: _Group, now: float) -> None:
        while group.expiries and group.expiries[0][0] <= now:
            _, _, handle = heapq.heappop(group.expiries)
            delivery = group.hidden.pop(handle, None)
            if delivery is not None:  # else acked, or renewed under another handle
                delivery.handle = None
                group.ready.setdefault(delivery.message.topic, deque()).appendleft(delivery)
