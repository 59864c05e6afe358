"""What a trigger waits on, whichever channel carries IMM's notifications (MNS or RocketMQ).

A trigger registers its TaskId with the one shared reader of its channel in the triggerer process
(:class:`~airflow_provider_imm.triggers.mns_listener.QueueListener` for an MNS queue,
:class:`~airflow_provider_imm.triggers.rocketmq_consumer.RocketMqConsumer` for a RocketMQ topic and
consumer group) and gets a :class:`Registration`: notifications for its task arrive on
:attr:`Registration.notifications`, and it closes the registration when done. That is all the
trigger knows of the channel.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    from airflow_provider_imm.utils.notification_parsing import ImmNotification


R = TypeVar("R", bound="LoopRegistry")


class LoopRegistry:
    """One registry of shared readers per event loop (a triggerer process runs all its triggers on
    one loop); each subclass keeps its own."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._by_loop = weakref.WeakKeyDictionary()

    @classmethod
    def current(cls: type[R]) -> R:
        """The registry of the running event loop, created on first use."""
        loop = asyncio.get_running_loop()
        registry = cls._by_loop.get(loop)
        if registry is None:
            registry = cls._by_loop[loop] = cls()
        return registry

    @classmethod
    def _replace(cls: type[R], registry: R) -> R:
        cls._by_loop[asyncio.get_running_loop()] = registry
        return registry


class NotificationChannel(Protocol):
    """A shared reader of one channel; registrations tell it who waits."""

    def register(self, task_id: str, reconcile_interval: float | None = None) -> Registration: ...

    def _unregister(self, registration: Registration, *, finished: bool) -> None: ...


class Registration:
    """One trigger waiting for one TaskId; notifications for it arrive on :attr:`notifications`."""

    def __init__(
        self, listener: NotificationChannel, task_id: str, reconcile_interval: float | None = None
    ) -> None:
        self.listener = listener
        self.task_id = task_id
        #: How late the trigger learns of its task's end when no notification comes (for logs).
        self.reconcile_interval = reconcile_interval
        self.notifications: asyncio.Queue[ImmNotification] = asyncio.Queue()
        self.closed = False

    def close(self, *, finished: bool = False) -> None:
        """Stop waiting. ``finished``: the task's end is known, so later copies of its notification
        are duplicates to delete at once. Idempotent."""
        if not self.closed:
            self.closed = True
            self.listener._unregister(self, finished=finished)


#: What :meth:`TaskWaiters.dispatch` found a notification to be.
DELIVERED, DUPLICATE, ORPHAN = "delivered", "duplicate", "orphan"


class TaskWaiters:
    """Who waits for which TaskId, and which TaskIds ended lately (their later copies are duplicates)."""

    def __init__(self, finished_memory: float) -> None:
        self.finished_memory = finished_memory
        self.waiting: dict[str, set[Registration]] = {}
        self._finished: OrderedDict[str, float] = OrderedDict()

    def add(self, registration: Registration) -> None:
        self.waiting.setdefault(registration.task_id, set()).add(registration)
        self._finished.pop(registration.task_id, None)

    def remove(self, registration: Registration, *, finished: bool) -> None:
        regs = self.waiting.get(registration.task_id)
        if regs is not None:
            regs.discard(registration)
            if not regs:
                del self.waiting[registration.task_id]
        if finished:
            self.remember_finished(registration.task_id)

    def count(self) -> int:
        return sum(len(regs) for regs in self.waiting.values())

    def dispatch(self, notification: ImmNotification) -> str:
        """Hand ``notification`` to every registration of its TaskId: :data:`DELIVERED`; or say it is
        a :data:`DUPLICATE` of an ended task, or an :data:`ORPHAN` nobody here waits for."""
        regs = self.waiting.get(notification.task_id)
        if regs:
            for registration in regs:
                registration.notifications.put_nowait(notification)
            self.remember_finished(notification.task_id)
            return DELIVERED
        return DUPLICATE if notification.task_id in self._finished else ORPHAN

    def remember_finished(self, task_id: str) -> None:
        now = time.monotonic()
        self._finished[task_id] = now
        self._finished.move_to_end(task_id)
        horizon = now - self.finished_memory
        while self._finished and (
            next(iter(self._finished.values())) < horizon or len(self._finished) > 100_000
        ):
            self._finished.popitem(last=False)


def parse_body(parser: Callable[[Any], ImmNotification | None] | None, body: Any) -> ImmNotification | None:
    """``parser`` (default: :func:`~airflow_provider_imm.utils.notification_parsing.parse_notification`)
    on a message body; None for anything it cannot read (left to other consumers)."""
    if parser is None:
        from airflow_provider_imm.utils.notification_parsing import parse_notification

        parser = parse_notification
    try:
        return parser(body)
    except Exception:
        return None
