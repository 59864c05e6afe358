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
import contextlib
import logging
import random
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from airflow_provider_imm.hooks.retry import RetryPolicy

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from airflow_provider_imm.utils.notification_parsing import ImmNotification


S = TypeVar("S")
R = TypeVar("R", bound="LoopRegistry[Any]")
M = TypeVar("M", bound="SharedReader[Any, Any, Any]")


class LoopRegistry(Generic[S]):
    """One registry of shared readers per event loop (a triggerer process runs all its triggers on
    one loop); each subclass keeps its own, with the settings its members share."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]]
    #: The settings class; a registry created on first use gets its defaults.
    settings_type: ClassVar[type[Any]]

    def __init__(self, settings: S | None = None) -> None:
        #: The shared readers (or reconcilers) of this loop, by key.
        self._members: dict[Any, Any] = {}
        self.settings: S = settings or self.settings_type()

    @classmethod
    def install(cls: type[R], settings: Any) -> R:
        """Give the running loop a registry with ``settings`` (tests, benchmarks, tuning)."""
        return cls._replace(cls(settings))

    async def aclose(self) -> None:
        """Stop every member and wait for it (tests; a triggerer simply exits)."""
        members, self._members = list(self._members.values()), {}
        await asyncio.gather(*(member.aclose() for member in members))

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

    def _open_member(self, key: Any, make: Callable[[], M]) -> M:
        """The member for ``key``; a new one from ``make`` when there is none, or when it is closing
        (a trigger registering meanwhile must not wait on a reader about to stop)."""
        member: M | None = self._members.get(key)
        if member is None or member._closing:
            member = self._members[key] = make()
        return member


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


@dataclass(frozen=True)
class ReaderSettings:
    """Tuning every shared reader's receive loop has; defaults suit production, tests shorten them.
    Each reader's settings add what its service needs."""

    batch_size: int = 16
    #: Pause after a receive that returned a partial batch, so that the next receive collects several
    #: notifications: fewer requests for at most this much extra latency.
    receive_pause: float = 0.25
    #: Orphans and unreadable bodies older than this (by enqueue time) are deleted, seconds.
    orphan_grace: float = 600.0
    #: Cap on how long a returned orphan stays hidden, seconds.
    orphan_max_hidden: int = 30
    backoff_initial: float = 1.0
    backoff_cap: float = 60.0
    #: How long finished TaskIds are remembered, to delete their duplicate notifications at once.
    finished_memory: float = 900.0

    def backoff(self, jitter: Callable[[], float] = random.random) -> Backoff:
        """A fresh backoff over receive failures, stepping from ``backoff_initial`` to ``backoff_cap``."""
        return Backoff(RetryPolicy(base_delay=self.backoff_initial, max_delay=self.backoff_cap), jitter)


@dataclass
class ReaderStats:
    """The counters every shared reader keeps, for logs, tests and benchmarks; each reader's stats
    record adds its own."""

    receives: int = 0
    received: int = 0
    delivered: int = 0
    duplicates: int = 0
    returned: int = 0
    dropped: int = 0
    unreadable: int = 0
    errors: int = 0


K = TypeVar("K")
RS = TypeVar("RS", bound=ReaderSettings)
RC = TypeVar("RC", bound=ReaderStats)


class SharedReader(Generic[K, RS, RC]):
    """What every shared reader does the same way: registrations, the receive loop's task, and
    handing a received body to whoever waits for it. A subclass receives and settles messages the
    way its service wants (:meth:`_run`), with its own key, settings and counters."""

    #: Names the reader in errors, logs and its loop task's name.
    describe: ClassVar[str]
    task_name: ClassVar[str]
    #: The counters' class; each reader starts with fresh ones.
    stats_type: ClassVar[type[Any]]

    def __init__(
        self,
        key: K,
        settings: RS,
        parser: Callable[[Any], ImmNotification | None] | None = None,
    ) -> None:
        self.key = key
        self.settings = settings
        self.stats: RC = self.stats_type()
        self._parser = parser
        self._waiters = TaskWaiters(settings.finished_memory)
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # Registration (event loop only)
    def register(self, task_id: str, reconcile_interval: float | None = None) -> Registration:
        """Start waiting for ``task_id``; do this BEFORE the first GetTask so no notification is missed.
        ``reconcile_interval``: the trigger's, quoted when notifications cannot come."""
        if self._closing:
            raise RuntimeError(f"{self.describe} for {self.key} is closed")
        registration = Registration(self, task_id, reconcile_interval)
        self._waiters.add(registration)
        if not self.running:
            self._start()
        return registration

    def _unregister(self, registration: Registration, *, finished: bool) -> None:
        self._waiters.remove(registration, finished=finished)

    @property
    def waiting(self) -> int:
        """Number of registrations currently waiting."""
        return self._waiters.count()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.task_name} {self.key}")
        self._task.add_done_callback(self._loop_ended)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        """A loop that dies of a bug says so; waiting triggers carry on through reconciliation."""
        if not task.cancelled() and task.exception() is not None:
            log.error("%s for %s stopped", self.describe, self.key, exc_info=task.exception())

    async def aclose(self) -> None:
        """Stop the loop once its current call to the service returns, then release what it held."""
        self._closing = True
        self._wake()
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._release()

    def _wake(self) -> None:
        """Cut short the loop's pause, if it pauses, so that closing does not wait for it."""

    async def _release(self) -> None:
        """Once the loop has ended: release its threads and client."""

    async def _run(self) -> None:
        raise NotImplementedError

    def _claim(self, body: Any, born_ms: float | None, unreadable: Callable[[], None] | None = None) -> bool:
        """Hand a received body to whoever waits for it; True when the reader is done with it (delete
        or ack it): delivered, a duplicate of an ended task, or an orphan or unreadable body older
        than ``orphan_grace`` (``born_ms``: milliseconds since the epoch, None: unknown). False: give
        it back (``unreadable`` is called first for a body that is no notification)."""
        notification = parse_body(self._parser, body)
        if notification is not None:
            found = self._waiters.dispatch(notification)
            if found == DELIVERED:
                self.stats.delivered += 1
                return True
            if found == DUPLICATE:
                self.stats.duplicates += 1
                return True
        else:
            self.stats.unreadable += 1
            if unreadable is not None:
                unreadable()
        if born_ms is not None and time.time() - born_ms / 1000 > self.settings.orphan_grace:
            self.stats.dropped += 1
            return True
        return False


#: What :func:`orphan_hiding` answers for "leave it hidden as the receive left it".
LEAVE = -2


def orphan_hiding(
    dequeue_count: int,
    visibility: float | None,
    cap: int,
    draw: Callable[[int, int], int] = random.randint,
) -> int:
    """Seconds to hide an orphan received ``dequeue_count`` times for, or ``LEAVE`` it as the receive
    hid it: 0 (visible at once) the first time, then 1, 3, 7, ... capped at ``cap``, jittered down to
    half by ``draw``. The queue's ``visibility`` timeout (None: unknown) replaces the backoff,
    saving the request, only when it is no shorter than the backoff and within the cap."""
    hidden = min(cap, 2 ** min(max(0, dequeue_count - 1), 16) - 1)
    if hidden and visibility is not None and hidden <= visibility <= cap:
        return LEAVE
    return draw(hidden - hidden // 2, hidden)


@dataclass
class Backoff:
    """Exponential backoff over a streak of failed receives; a reader keeps one across runs, so a
    streak (a queue that does not exist, say) is logged once however often its loop restarts."""

    policy: RetryPolicy
    #: A factor in [0, 1] drawn per delay (the policy's jitter).
    jitter: Callable[[], float] = random.random
    failures: int = 0
    streak_started: float = 0.0

    def failed(self) -> bool:
        """Count a failure; True for the first of a streak, the one to log."""
        self.failures += 1
        if self.failures == 1:
            self.streak_started = time.monotonic()
            return True
        return False

    def next_delay(self) -> float:
        # Capped exponent: an outage of days must not overflow the float.
        return self.policy.backoff(min(self.failures, 64), self.jitter())

    def recovered(self) -> tuple[int, float] | None:
        """A call succeeded: the streak's failures and seconds, or None when there was none."""
        if not self.failures:
            return None
        streak = (self.failures, time.monotonic() - self.streak_started)
        self.failures = 0
        return streak


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
