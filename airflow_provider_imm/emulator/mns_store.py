"""MNS state: queues and their messages, topics, subscriptions, and receivers waiting on a long poll.

Everything here runs on the emulator's event loop, one call at a time, so there are no locks.
Timestamps are emulated seconds (:class:`EmulatedClock`), so ``clock.advance`` ages messages
(retention, visibility) for the next call; waiting receivers sleep on real timers.

Long polling wakes exactly the receivers that can take a message: a queue keeps its waiters in
arrival order and, whenever messages become active (sent, delivered from a topic, made visible
again, delay over), hands them straight to the first waiter. Delayed and in-flight messages are
watched by at most one timer per queue, set for the earliest of them, and only while someone waits.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple, TypeVar
from xml.sax.saxutils import escape

from airflow_provider_imm.emulator.service_error import ServiceError
from airflow_provider_imm.utils.mns_names import MNS_NAME_RULE_2019, is_2019_mns_name

XMLNS = "http://mns.aliyuncs.com/doc/v1/"
DEFAULT_PRIORITY = 8
PRIORITY_RANGE = (1, 16)
MAX_BATCH = 16
MAX_WAIT_SECONDS = 30
VISIBILITY_RANGE = (0, 43200)
DELAY_RANGE = (0, 604800)
#: MaximumMessageSize of a queue or a topic: its range, and its default (the largest).
MAX_MESSAGE_SIZE = 65536
MESSAGE_SIZE_RANGE = (1024, MAX_MESSAGE_SIZE)
TOPIC_RETENTION = 86400

V = TypeVar("V")
MessageState = Literal["active", "delayed", "inflight"]
ContentFormat = Literal["XML", "JSON", "SIMPLIFIED"]
CONTENT_FORMATS: tuple[str, ...] = ("XML", "JSON", "SIMPLIFIED")
NOTIFY_STRATEGIES: tuple[str, ...] = ("BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY")

_HANDLE = re.compile(r"1-([0-9a-f]+)-([0-9a-f]+)-([0-9a-f]+)\Z")
_QUEUE_ENDPOINT = re.compile(r"acs:mns:[^:]*:[^:]*:/?queues/([^/]+)\Z")


class MnsError(ServiceError):
    """An error MNS answers with."""


def qps_limit_exceeded() -> MnsError:
    """MNS's answer to a call over a QPS limit (its error-code table: HTTP 400). Newer MNS documents
    also answer 429 ``TooManyRequests`` for cluster-wide throttling; callers tell them apart by code."""
    return MnsError(400, "QpsLimitExceeded", "The qps limit of the queue is exceeded.")


def invalid_argument(message: str) -> MnsError:
    return MnsError(400, "InvalidArgument", message)


def check_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise invalid_argument(f"The value of {name} should between {low} and {high}.")
    return value


def body_md5(body: str) -> str:
    """MNS's MessageBodyMD5: upper-case hex MD5 of the body as stored."""
    return hashlib.md5(body.encode()).hexdigest().upper()


def new_message_id() -> str:
    return uuid.uuid4().hex.upper()


def queue_name_of_endpoint(endpoint: str) -> str | None:
    """The queue of ``acs:mns:<region>:<account>:queues/<name>``; None for any other endpoint.

    Region and account are not checked: the emulator has one account and delivers by queue name.
    """
    match = _QUEUE_ENDPOINT.match(endpoint)
    return match.group(1) if match else None


def _existing(items: dict[str, V], kind: str, name: str) -> V:
    """``items[name]``, or MNS's 404 ``<kind>NotExist`` (``QueueNotExist``, ``TopicNotExist``, ...)."""
    item = items.get(name)
    if item is None:
        raise MnsError(404, f"{kind}NotExist", f"The {kind.lower()} name you provided is not exist.")
    return item


def check_name(kind: str, name: str) -> str:
    """``name`` if it follows MNS's naming rule for a queue, topic or subscription; else 400."""
    if not is_2019_mns_name(name):
        raise MnsError(
            400,
            f"Invalid{kind}Name",
            f"The {kind.lower()} name you provided is not valid: use {MNS_NAME_RULE_2019}.",
        )
    return name


class IntAttribute(NamedTuple):
    """Where an integer queue attribute lives in :class:`QueueAttributes`, and its allowed range."""

    field: str
    low: int
    high: int


#: MNS's XML element for each integer attribute of a queue, in the order GetQueueAttributes lists
#: them: the one table that parses CreateQueue / SetQueueAttributes, validates, and renders.
QUEUE_INT_ATTRIBUTES: dict[str, IntAttribute] = {
    "DelaySeconds": IntAttribute("delay_seconds", *DELAY_RANGE),
    "MaximumMessageSize": IntAttribute("maximum_message_size", *MESSAGE_SIZE_RANGE),
    "MessageRetentionPeriod": IntAttribute("message_retention_period", 60, 604800),
    "VisibilityTimeout": IntAttribute("visibility_timeout", 1, 43200),
    "PollingWaitSeconds": IntAttribute("polling_wait_seconds", 0, MAX_WAIT_SECONDS),
}


@dataclass(frozen=True)
class QueueAttributes:
    visibility_timeout: int = 30
    maximum_message_size: int = MAX_MESSAGE_SIZE
    message_retention_period: int = 345600
    delay_seconds: int = 0
    polling_wait_seconds: int = 0
    logging_enabled: bool = False

    def validated(self) -> QueueAttributes:
        for element, spec in QUEUE_INT_ATTRIBUTES.items():
            check_range(element, getattr(self, spec.field), spec.low, spec.high)
        return self

    def int_elements(self) -> list[tuple[str, int]]:
        """The integer attributes as GetQueueAttributes renders them: (XML element, value)."""
        return [(element, getattr(self, spec.field)) for element, spec in QUEUE_INT_ATTRIBUTES.items()]


@dataclass(frozen=True)
class QueuedMessage:
    """A message as one call saw it; ``receipt_handle`` is set only for the receive that made it."""

    message_id: str
    body: str
    body_md5: str
    priority: int
    state: MessageState
    enqueue_time: float
    next_visible_time: float
    first_dequeue_time: float
    dequeue_count: int
    receipt_handle: str | None = None


@dataclass(frozen=True)
class QueueStats:
    active: int
    inflight: int
    delayed: int


@dataclass(eq=False)
class _Message:
    message_id: str
    body: str
    body_md5: str
    priority: int
    enqueue_time: float
    seq: int
    visible_at: float
    state: MessageState
    dequeue_count: int = 0
    first_dequeue_time: float = 0.0
    receipt_handle: str | None = None
    #: Bumped on every state change; heap entries with an older version are stale and skipped.
    version: int = 0

    def snapshot(self, receipt_handle: str | None = None) -> QueuedMessage:
        return QueuedMessage(
            self.message_id,
            self.body,
            self.body_md5,
            self.priority,
            self.state,
            self.enqueue_time,
            self.visible_at,
            self.first_dequeue_time,
            self.dequeue_count,
            receipt_handle,
        )


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[list[QueuedMessage]]
    limit: int

    def expire(self) -> None:
        if not self.future.done():
            self.future.set_result([])


class MnsQueue:
    """One queue: active messages by (priority, arrival), delayed and in-flight ones by due time."""

    def __init__(self, name: str, uid: int, attributes: QueueAttributes, clock: Callable[[], float]) -> None:
        self.name = name
        self.uid = uid
        self.attributes = attributes
        self.create_time = self.last_modify_time = clock()
        self._clock = clock
        self._seq = itertools.count()
        self._receives = itertools.count(1)
        self._messages: OrderedDict[str, _Message] = OrderedDict()
        self._active: list[tuple[int, int, int, _Message]] = []
        self._pending: list[tuple[float, int, int, _Message]] = []
        self._handles: dict[str, _Message] = {}
        self._waiters: OrderedDict[_Waiter, None] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # Messages
    def send(
        self, body: str, *, delay_seconds: int | None = None, priority: int | None = None
    ) -> QueuedMessage:
        if not body:
            raise invalid_argument("The message body should not be empty.")
        if len(body.encode()) > self.attributes.maximum_message_size:
            raise invalid_argument(
                f"The message body is larger than the queue's MaximumMessageSize, "
                f"{self.attributes.maximum_message_size} bytes."
            )
        if delay_seconds is not None:
            check_range("DelaySeconds", delay_seconds, *DELAY_RANGE)
        if priority is not None:
            check_range("Priority", priority, *PRIORITY_RANGE)
        now = self._clock()
        self._advance(now)
        delay = self.attributes.delay_seconds if delay_seconds is None else delay_seconds
        message = _Message(
            message_id=new_message_id(),
            body=body,
            body_md5=body_md5(body),
            priority=DEFAULT_PRIORITY if priority is None else priority,
            enqueue_time=now,
            seq=next(self._seq),
            visible_at=now + delay,
            state="delayed" if delay > 0 else "active",
        )
        self._messages[message.message_id] = message
        if delay > 0:
            heapq.heappush(self._pending, (message.visible_at, message.seq, message.version, message))
        else:
            heapq.heappush(self._active, (message.priority, message.seq, message.version, message))
        snapshot = message.snapshot()
        self._wake(now)
        return snapshot

    def receive(self, limit: int) -> list[QueuedMessage]:
        """Up to ``limit`` active messages, now in flight, each with a fresh receipt handle."""
        now = self._clock()
        self._advance(now)
        self._wake(now)
        return self._take(limit, now)

    def peek(self, limit: int) -> list[QueuedMessage]:
        now = self._clock()
        self._advance(now)
        self._wake(now)
        found: list[QueuedMessage] = []
        for _, _, version, message in sorted(self._active, key=lambda entry: entry[:3]):
            if message.version == version:
                found.append(message.snapshot())
                if len(found) == limit:
                    break
        return found

    def delete(self, receipt_handle: str) -> None:
        message = self._holder(receipt_handle)
        self._remove(message)

    def change_visibility(self, receipt_handle: str, timeout: int) -> QueuedMessage:
        check_range("VisibilityTimeout", timeout, *VISIBILITY_RANGE)
        message = self._holder(receipt_handle)
        now = self._clock()
        handle = self._new_handle(message)
        message.visible_at = now + timeout
        message.version += 1
        heapq.heappush(self._pending, (message.visible_at, message.seq, message.version, message))
        snapshot = message.snapshot(handle)
        self._advance(now)
        self._wake(now)
        return snapshot

    def messages(self) -> list[QueuedMessage]:
        """Every message still in the queue (active, delayed, in flight), oldest first."""
        self._advance(self._clock())
        return [message.snapshot() for message in self._messages.values()]

    def stats(self) -> QueueStats:
        self._advance(self._clock())
        counts = {"active": 0, "inflight": 0, "delayed": 0}
        for message in self._messages.values():
            counts[message.state] += 1
        return QueueStats(counts["active"], counts["inflight"], counts["delayed"])

    # Long polling
    async def wait_receive(self, limit: int, wait_seconds: float) -> list[QueuedMessage]:
        """Receive at once if anything is active, else wait up to ``wait_seconds`` for a hand-off."""
        got = self.receive(limit)
        if got or wait_seconds <= 0:
            return got
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), limit)
        self._waiters[waiter] = None
        self._arm_timer(self._clock())
        deadline = loop.call_later(wait_seconds, waiter.expire)
        try:
            return await waiter.future
        finally:
            deadline.cancel()
            self._waiters.pop(waiter, None)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def close(self) -> None:
        """Release every waiter empty-handed (queue deleted or server stopping)."""
        while self._waiters:
            waiter, _ = self._waiters.popitem(last=False)
            waiter.expire()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # Internals
    def _holder(self, receipt_handle: str) -> _Message:
        """The in-flight message a handle belongs to; stale handles (received again, visibility
        changed or timed out) no longer belong to any."""
        match = _HANDLE.match(receipt_handle)
        if match is None or int(match.group(1), 16) != self.uid:
            raise MnsError(400, "ReceiptHandleError", "The receipt handle you provided is not valid.")
        self._advance(self._clock())
        message = self._handles.get(receipt_handle)
        if message is None:
            raise MnsError(404, "MessageNotExist", "Message not exist.")
        return message

    def _new_handle(self, message: _Message) -> str:
        if message.receipt_handle is not None:
            self._handles.pop(message.receipt_handle, None)
        handle = f"1-{self.uid:x}-{message.seq:x}-{next(self._receives):x}{uuid.uuid4().hex[:8]}"
        message.receipt_handle = handle
        self._handles[handle] = message
        return handle

    def _take(self, limit: int, now: float) -> list[QueuedMessage]:
        taken: list[QueuedMessage] = []
        visibility = self.attributes.visibility_timeout
        while self._active and len(taken) < limit:
            _, _, version, message = heapq.heappop(self._active)
            if message.version != version:
                continue
            handle = self._new_handle(message)
            message.state = "inflight"
            message.dequeue_count += 1
            if not message.first_dequeue_time:
                message.first_dequeue_time = now
            message.visible_at = now + visibility
            message.version += 1
            heapq.heappush(self._pending, (message.visible_at, message.seq, message.version, message))
            taken.append(message.snapshot(handle))
        return taken

    def _remove(self, message: _Message) -> None:
        del self._messages[message.message_id]
        if message.receipt_handle is not None:
            self._handles.pop(message.receipt_handle, None)
        message.version += 1

    def _advance(self, now: float) -> None:
        """Apply what time did: expire old messages, make due delayed and in-flight ones active."""
        retention = self.attributes.message_retention_period
        while self._messages:
            oldest = next(iter(self._messages.values()))
            if oldest.enqueue_time + retention > now:
                break
            self._remove(oldest)
        pending = self._pending
        while pending and pending[0][0] <= now:
            _, _, version, message = heapq.heappop(pending)
            if message.version != version:
                continue
            if message.receipt_handle is not None:
                self._handles.pop(message.receipt_handle, None)
                message.receipt_handle = None
            message.state = "active"
            message.version += 1
            heapq.heappush(self._active, (message.priority, message.seq, message.version, message))

    def _wake(self, now: float) -> None:
        """Hand active messages to waiters, first come first served; keep a timer while any wait."""
        waiters = self._waiters
        while waiters and self._active:
            waiter = next(iter(waiters))
            if waiter.future.done():
                waiters.popitem(last=False)
                continue
            taken = self._take(waiter.limit, now)
            if not taken:
                break
            waiters.popitem(last=False)
            waiter.future.set_result(taken)
        if waiters:
            self._arm_timer(now)

    def _arm_timer(self, now: float) -> None:
        pending = self._pending
        while pending and pending[0][2] != pending[0][3].version:
            heapq.heappop(pending)
        if not pending:
            return
        due = pending[0][0]
        if self._timer is not None:
            if self._timer_at <= due:
                return
            self._timer.cancel()
        self._timer_at = due
        self._timer = asyncio.get_running_loop().call_later(max(0.0, due - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._clock()
        self._advance(now)
        self._wake(now)


@dataclass
class Subscription:
    topic_name: str
    name: str
    endpoint: str
    queue_name: str
    notify_strategy: str
    content_format: str
    filter_tag: str
    create_time: float
    last_modify_time: float


@dataclass
class Topic:
    name: str
    maximum_message_size: int
    logging_enabled: bool
    create_time: float
    last_modify_time: float
    subscriptions: dict[str, Subscription] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    message_id: str
    body_md5: str
    deliveries: int


class MnsStore:
    """All queues and topics of the emulated account."""

    def __init__(self, account_id: str, clock: Callable[[], float]) -> None:
        self.account_id = account_id
        self._clock = clock
        self._uids = itertools.count(1)
        self.queues: dict[str, MnsQueue] = {}
        self.topics: dict[str, Topic] = {}

    # Queues
    def create_queue(self, name: str, attributes: QueueAttributes) -> bool:
        """True when created; False when it exists with the same attributes (else 409)."""
        check_name("Queue", name)
        attributes.validated()
        existing = self.queues.get(name)
        if existing is not None:
            if existing.attributes != attributes:
                raise MnsError(409, "QueueAlreadyExist", "The queue you want to create is already exist.")
            return False
        self.queues[name] = MnsQueue(name, next(self._uids), attributes, self._clock)
        return True

    def queue(self, name: str) -> MnsQueue:
        return _existing(self.queues, "Queue", name)

    def set_queue_attributes(self, name: str, **changes: int | bool) -> None:
        queue = self.queue(name)
        queue.attributes = replace(queue.attributes, **changes).validated()  # type: ignore[arg-type]
        queue.last_modify_time = self._clock()

    def delete_queue(self, name: str) -> None:
        queue = self.queues.pop(name, None)
        if queue is not None:
            queue.close()

    # Topics and subscriptions
    def create_topic(
        self, name: str, *, maximum_message_size: int = MAX_MESSAGE_SIZE, logging_enabled: bool = False
    ) -> bool:
        check_name("Topic", name)
        check_range("MaximumMessageSize", maximum_message_size, *MESSAGE_SIZE_RANGE)
        existing = self.topics.get(name)
        if existing is not None:
            if (existing.maximum_message_size, existing.logging_enabled) != (
                maximum_message_size,
                logging_enabled,
            ):
                raise MnsError(409, "TopicAlreadyExist", "The topic you want to create is already exist.")
            return False
        now = self._clock()
        self.topics[name] = Topic(name, maximum_message_size, logging_enabled, now, now)
        return True

    def topic(self, name: str) -> Topic:
        return _existing(self.topics, "Topic", name)

    def set_topic_attributes(
        self, name: str, *, maximum_message_size: int | None = None, logging_enabled: bool | None = None
    ) -> None:
        topic = self.topic(name)
        if maximum_message_size is not None:
            topic.maximum_message_size = check_range(
                "MaximumMessageSize", maximum_message_size, *MESSAGE_SIZE_RANGE
            )
        if logging_enabled is not None:
            topic.logging_enabled = logging_enabled
        topic.last_modify_time = self._clock()

    def delete_topic(self, name: str) -> None:
        self.topics.pop(name, None)

    def subscribe(
        self,
        topic_name: str,
        name: str,
        endpoint: str,
        *,
        notify_strategy: str = "BACKOFF_RETRY",
        content_format: str = "XML",
        filter_tag: str = "",
    ) -> bool:
        """True when created; False when it exists with the same settings (else 409)."""
        topic = self.topic(topic_name)
        check_name("Subscription", name)
        queue_name = queue_name_of_endpoint(endpoint)
        if queue_name is None:
            raise invalid_argument(
                f"Endpoint {endpoint!r} is not supported here: the emulator delivers to queue endpoints, "
                "acs:mns:<region>:<account-id>:queues/<queue-name>."
            )
        if notify_strategy not in NOTIFY_STRATEGIES:
            raise invalid_argument(f"NotifyStrategy must be one of {', '.join(NOTIFY_STRATEGIES)}.")
        if content_format not in CONTENT_FORMATS:
            raise invalid_argument(f"NotifyContentFormat must be one of {', '.join(CONTENT_FORMATS)}.")
        if len(filter_tag) > 16:
            raise invalid_argument("The length of FilterTag should between 1 and 16.")
        existing = topic.subscriptions.get(name)
        if existing is not None:
            same = (existing.endpoint, existing.notify_strategy, existing.content_format, existing.filter_tag)
            if same != (endpoint, notify_strategy, content_format, filter_tag):
                raise MnsError(
                    409, "SubscriptionAlreadyExist", "The subscription you want to create is already exist."
                )
            return False
        now = self._clock()
        topic.subscriptions[name] = Subscription(
            topic_name, name, endpoint, queue_name, notify_strategy, content_format, filter_tag, now, now
        )
        return True

    def subscription(self, topic_name: str, name: str) -> Subscription:
        return _existing(self.topic(topic_name).subscriptions, "Subscription", name)

    def set_subscription_strategy(self, topic_name: str, name: str, notify_strategy: str) -> None:
        subscription = self.subscription(topic_name, name)
        if notify_strategy:
            if notify_strategy not in NOTIFY_STRATEGIES:
                raise invalid_argument(f"NotifyStrategy must be one of {', '.join(NOTIFY_STRATEGIES)}.")
            subscription.notify_strategy = notify_strategy
        subscription.last_modify_time = self._clock()

    def unsubscribe(self, topic_name: str, name: str) -> None:
        self.topic(topic_name).subscriptions.pop(name, None)

    def publish(self, topic_name: str, body: str, tag: str = "") -> Published:
        """Copy ``body`` into the queue of every subscription whose FilterTag matches ``tag``."""
        topic = self.topic(topic_name)
        if len(body.encode()) > topic.maximum_message_size:
            raise invalid_argument(f"The message body is larger than {topic.maximum_message_size} bytes.")
        message_id = new_message_id()
        md5 = body_md5(body)
        publish_time = int(self._clock() * 1000)
        deliveries = 0
        for subscription in list(topic.subscriptions.values()):
            if subscription.filter_tag and subscription.filter_tag != tag:
                continue
            queue = self.queues.get(subscription.queue_name)
            if queue is None:
                continue
            envelope = NotificationEnvelope(
                self.account_id, topic_name, subscription.name, message_id, body, md5, tag, publish_time
            )
            try:
                queue.send(envelope.render(subscription.content_format))
            except MnsError:
                continue  # Too large for that queue: MNS cannot deliver it either.
            deliveries += 1
        return Published(message_id, md5, deliveries)

    def close(self) -> None:
        for queue in self.queues.values():
            queue.close()


@dataclass(frozen=True)
class NotificationEnvelope:
    """What a subscription puts in its queue for one published message, in its content format."""

    topic_owner: str
    topic_name: str
    subscription_name: str
    message_id: str
    message: str
    message_md5: str
    message_tag: str
    publish_time_ms: int

    def fields(self) -> dict[str, str]:
        return {
            "TopicOwner": self.topic_owner,
            "TopicName": self.topic_name,
            "Subscriber": self.topic_owner,
            "SubscriptionName": self.subscription_name,
            "MessageId": self.message_id,
            "Message": self.message,
            "MessageMD5": self.message_md5,
            "MessageTag": self.message_tag,
            "PublishTime": str(self.publish_time_ms),
        }

    def render(self, content_format: str) -> str:
        if content_format == "SIMPLIFIED":
            return self.message
        if content_format == "JSON":
            return json.dumps(self.fields(), ensure_ascii=False, separators=(",", ":"))
        inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in self.fields().items())
        return f'<?xml version="1.0" encoding="utf-8"?><Notification xmlns="{XMLNS}">{inner}</Notification>'
