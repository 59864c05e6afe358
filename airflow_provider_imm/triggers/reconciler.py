"""One reconciler per IMM connection identity and project in a triggerer process, beside the listener.

Notifications are the fast path; reconciliation makes up for a lost one. Done per trigger, it is a
GetTask per waiting task every interval: 10,000 tasks waiting two hours make 240,000 calls, the very
polling IMM's documentation warns throttles the whole account. Here every waiting trigger of one
event loop registers its TaskId with ONE :class:`Reconciler`, whose rounds list the tasks that ended
since the previous round (ListTasks, ``EndTimeRange``, pages of 100) and settle those waited for:
IMM calls per round grow with the tasks that ended, not with the tasks that wait. The check at the
start of a wait goes through it as well, batched: a few waits get GetTask each; many (a triggerer
restart) get one listing of the running tasks and of those that ended lately, and GetTask only for
what neither shows. The decisions live in :mod:`airflow_provider_imm.triggers.reconciliation`.

A trigger awaits its :class:`Ticket`'s outcome beside its notification: whichever comes first ends
its wait, so it yields one event however both race. A failing round backs off and fails no trigger;
a refusal that will not pass (ListTasks not allowed for the credentials, say) sends every trigger
back to waiting alone, with its own GetTask checks, as before shared reconciliation, until the
triggerer restarts.

Rounds list ended tasks sorted by ``EndTime`` (tasks ending while a round pages come after its
cursor); correctness does not depend on it (overlapping windows, settled by TaskId), so a service
that refuses that sort is asked again without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_imm.hooks.errors import TRANSIENT_KINDS
from airflow_provider_imm.triggers import reconciliation as plan
from airflow_provider_imm.triggers.notification_channel import LoopRegistry
from airflow_provider_imm.triggers.reconciliation import PAGE_SIZE, ReconcileSettings

if TYPE_CHECKING:
    from airflow_provider_imm.hooks.imm import ImmHook

log = logging.getLogger(__name__)

__all__ = ["Outcome", "ReconcileSettings", "Reconciler", "ReconcilerKey", "ReconcilerRegistry", "Ticket"]


@dataclass(frozen=True)
class Outcome:
    """What the reconciler learnt for a wait: the ended task's information (``info``, learnt through
    ``source``), an error GetTask answered that will not pass, or ``alone``: wait on your own."""

    info: Mapping[str, Any] | None = None
    source: Literal["list_tasks", "get_task"] = "list_tasks"
    error: BaseException | None = None
    alone: bool = False


class Ticket:
    """One trigger's registration; its :attr:`outcome` resolves at most once."""

    def __init__(self, reconciler: Reconciler, task_id: str, interval: float) -> None:
        self.reconciler = reconciler
        self.task_id = task_id
        self.interval = interval
        self.outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.closed = False

    def close(self) -> None:
        """Stop waiting (the trigger ended, by whatever path). Idempotent."""
        if not self.closed:
            self.closed = True
            self.reconciler._unregister(self)

    def _resolve(self, outcome: Outcome) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


@dataclass
class _Entry:
    task_type: str
    tickets: set[Ticket] = field(default_factory=set)
    #: When IMM last said the task was running (this machine's clock); None: not yet checked.
    checked_at: float | None = None
    #: A first check was tried (it may have failed and wait for the next round).
    tried: bool = False
    #: The GetTask in flight for it, cancelled when nobody waits any more.
    call: asyncio.Task[Any] | None = None


@dataclass(frozen=True)
class ReconcilerKey:
    """Same endpoint, same credentials' identity (a secret-free digest), same project."""

    endpoint: str
    identity: str
    project: str

    def __str__(self) -> str:
        return f"{self.endpoint} project {self.project}"


@dataclass
class ReconcilerStats:
    """Counters for logs, tests and benchmarks."""

    rounds: int = 0
    failed_rounds: int = 0
    list_calls: int = 0
    get_calls: int = 0
    settled_by_list: int = 0
    settled_by_get: int = 0
    checked_by_list: int = 0
    settled_from_memory: int = 0
    #: Seconds spent in rounds, all of them together.
    round_seconds: float = 0.0


class Reconciler:
    """The rounds of one project for one connection identity, on one event loop.
    Use :meth:`ReconcilerRegistry.reconciler`."""

    def __init__(self, key: ReconcilerKey, hook: ImmHook, settings: ReconcileSettings) -> None:
        self.key = key
        self.hook = hook
        self.settings = settings
        self.stats = ReconcilerStats()
        self._waiting: dict[str, _Entry] = {}
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        #: Set when the shared path cannot serve (ListTasks refused for good): every wait goes alone.
        self._broken: BaseException | None = None
        #: Start of the last complete listing of ended tasks; the next window reaches back from it.
        self._listed_since: float | None = None
        #: Earliest check since rounds began, the first window's base before any listing.
        self._coverage_from: float | None = None
        self._next_round_at = math.inf
        self._checks_due_at = math.inf
        self._failures = 0
        #: When the first wait not checked yet registered since the last round (None: none).
        self._pending_since: float | None = None
        self._busy = False
        #: Ask for ended tasks sorted by EndTime (False once the service refused that sort).
        self._sorted = True
        self._retry_after: float | None = None
        #: What listings showed, for waits registering later (a restart's triggers start over
        #: seconds): ended tasks' information and when running tasks were seen, both as of a listing.
        self._seen_ended: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._seen_running: dict[str, float] = {}
        #: Pages the last complete listing of running tasks took (None: never listed).
        self._running_pages: int | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        """A round is under way (its calls may not have been answered yet)."""
        return self._busy

    @property
    def untried(self) -> int:
        """Waits whose first check has not been tried yet."""
        return sum(1 for e in self._waiting.values() if not e.tried and e.checked_at is None)

    # Registration
    def register(self, task_id: str, task_type: str, interval: float) -> Ticket:
        """Wait for ``task_id``; the ticket's outcome says how it ended (or to wait alone)."""
        ticket = Ticket(self, task_id, interval)
        if self._broken is not None or not self.settings.shared:
            ticket._resolve(Outcome(alone=True))
            return ticket
        entry = self._waiting.get(task_id)
        if entry is None:
            entry = self._waiting[task_id] = _Entry(task_type)
            self._from_memory(task_id, entry)
        entry.tickets.add(ticket)
        if entry.checked_at is None and not self._failures:  # after a failure: the backoff's time
            now = time.time()
            if self._pending_since is None:
                self._pending_since = now
            due = plan.first_checks_due(self._pending_since, now, self.settings)
            if due < self._checks_due_at:
                self._wakeup.set()  # earlier than the loop sleeps for; later needs no wakeup
            self._checks_due_at = due
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"imm-reconciler {self.key}"
            )
        return ticket

    def _from_memory(self, task_id: str, entry: _Entry) -> None:
        """A task a recent listing showed ended settles at once; one it showed running is checked."""
        seen = self._seen_ended.get(task_id)
        if seen is not None:
            self.stats.settled_from_memory += 1
            entry.checked_at = seen[0]
            # After the caller adds its ticket: resolved on the next loop iteration.
            asyncio.get_running_loop().call_soon(
                self._settle, task_id, Outcome(info=seen[1], source="list_tasks")
            )
            return
        seen_at = self._seen_running.get(task_id)
        if seen_at is not None:
            entry.checked_at = seen_at

    def _unregister(self, ticket: Ticket) -> None:
        entry = self._waiting.get(ticket.task_id)
        if entry is None:
            return
        entry.tickets.discard(ticket)
        if not entry.tickets:
            del self._waiting[ticket.task_id]
            if entry.call is not None:
                entry.call.cancel()  # its answer is of no use now: no more retries
            if not self._waiting:
                self._wakeup.set()

    def _settle(self, task_id: str, outcome: Outcome) -> None:
        entry = self._waiting.pop(task_id, None)
        if entry is None:
            return
        for ticket in entry.tickets:
            ticket._resolve(outcome)
        if not self._waiting:
            self._wakeup.set()

    # The loop
    async def _run(self) -> None:
        try:
            while self._waiting and self._broken is None:
                now = time.time()
                periodic = self._next_round_at <= now
                if not periodic and self._checks_due_at > now:
                    await self._sleep(min(self._next_round_at, self._checks_due_at) - now)
                    continue
                self._busy = True
                began = time.monotonic()
                try:
                    await self._round(periodic)
                finally:
                    self._busy = False
                    self.stats.round_seconds += time.monotonic() - began
        except Exception:
            log.exception("IMM reconciler for %s stopped; waiting triggers check on their own", self.key)
            self._give_up(RuntimeError("the shared reconciler failed"))
        finally:
            if not self._waiting:
                self._forget()

    async def _sleep(self, seconds: float) -> None:
        self._wakeup.clear()
        if not self._waiting:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), max(0.0, seconds))

    def _forget(self) -> None:
        """Nobody waits: rounds stop, so what listings showed is no longer kept up to date."""
        self._listed_since = self._coverage_from = self._pending_since = None
        self._next_round_at = self._checks_due_at = math.inf
        self._failures, self._retry_after = 0, None
        self._seen_ended.clear()
        self._seen_running.clear()

    def _interval(self) -> float:
        intervals = [t.interval for e in self._waiting.values() for t in e.tickets]
        return min(intervals) if intervals else self.settings.default_interval

    async def _round(self, periodic: bool) -> None:
        settings = self.settings
        start = time.time()
        self.stats.rounds += 1
        self._prune(start)
        need = plan.needing_check({k: e.checked_at for k, e in self._waiting.items()}, start, settings)
        self._checks_due_at = math.inf
        self._pending_since = None
        self._mark_tried(need)
        listing = plan.list_running_instead(len(need), self._running_pages, settings)
        try:
            if listing:
                await self._list_running(start, plan.listing_page_budget(len(need)))
                base = plan.catch_up_start(start, settings)
                if self._listed_since is not None:
                    base = min(base, plan.window_start(self._listed_since, settings))
                await self._list_ended(base, start)
            elif periodic:
                since = self._listed_since if self._listed_since is not None else self._coverage_from
                await self._list_ended(
                    plan.window_start(since if since is not None else start, settings), start
                )
        except Exception as err:
            if _transient(err):
                self._round_failed("ListTasks", err, start)
                return
            self._give_up(err)
            return
        rest = [t for t in need if t in self._waiting and self._stale(self._waiting[t], start)]
        if rest:
            failure = await self._get_tasks(rest[: settings.max_get_tasks_per_round], start)
            if failure is not None:
                self._round_failed("GetTask", failure, start)
                return
        self._failures, self._retry_after = 0, None
        if any(e.checked_at is None for e in self._waiting.values()):
            self._checks_due_at = start + settings.first_check_delay
        if periodic or self._next_round_at == math.inf:
            self._next_round_at = start + plan.round_delay(self._interval(), 0, None, settings)

    def _stale(self, entry: _Entry, now: float) -> bool:
        return entry.checked_at is None or entry.checked_at <= now - self.settings.recheck_after

    def _mark_tried(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            entry = self._waiting.get(task_id)
            if entry is not None:
                entry.tried = True

    def _round_failed(self, action: str, err: BaseException, start: float) -> None:
        """Back off (no trigger fails): throttling must not be answered by more calls."""
        self.stats.failed_rounds += 1
        self._failures += 1
        self._retry_after = getattr(err, "retry_after", None)
        delay = plan.round_delay(self._interval(), self._failures, self._retry_after, self.settings)
        log.log(
            logging.WARNING if self._failures == 1 else logging.DEBUG,
            "IMM reconciler for %s: %s failed (%s); asking again in %.0f s",
            self.key,
            action,
            getattr(err, "code", type(err).__name__),
            delay,
        )
        self._next_round_at = start + delay
        if any(e.checked_at is None for e in self._waiting.values()):
            self._checks_due_at = start + delay

    def _give_up(self, err: BaseException) -> None:
        """The shared path cannot serve: every wait, present and future, goes alone."""
        if self._broken is None:
            log.warning(
                "IMM reconciler for %s: %s; each waiting trigger checks its task with GetTask on its own",
                self.key,
                getattr(err, "summary", None) or getattr(err, "code", None) or type(err).__name__,
            )
        self._broken = err
        for task_id in list(self._waiting):
            self._settle(task_id, Outcome(alone=True))

    def _prune(self, now: float) -> None:
        """Listings are remembered for a few intervals, both kinds to the same horizon, so a task
        remembered running is never one whose end was forgotten."""
        horizon = now - max(self.settings.margin, 3 * self._interval())
        self._seen_ended = {k: v for k, v in self._seen_ended.items() if v[0] >= horizon}
        self._seen_running = {k: v for k, v in self._seen_running.items() if v >= horizon}

    # Calls to IMM
    async def _list_running(self, start: float, budget: int) -> None:
        token: str | None = None
        pages = 0
        while pages < budget:
            page = await self._page(token, status="Running")
            pages += 1
            for task_id in plan.running(page.get("Tasks") or []):
                self._seen_running[task_id] = start
                entry = self._waiting.get(task_id)
                if entry is not None and self._stale(entry, start):
                    entry.checked_at = start
                    self.stats.checked_by_list += 1
            token = page.get("NextToken") or None
            if token is None:
                self._running_pages = pages
                return
        self._running_pages = None  # more than the budget: unknown, GetTask is checked against again

    async def _list_ended(self, since: float, start: float) -> None:
        """Every task that ended since ``since`` (and during the listing): settles those waited for."""
        token: str | None = None
        window = {"Start": plan.iso_time(since)}
        while True:
            order: dict[str, str] = {"sort": "EndTime", "order": "asc"} if self._sorted else {}
            try:
                page = await self._page(token, end_time_range=window, **order)
            except Exception as err:
                if not (self._sorted and _refuses_sort(err)):
                    raise
                log.info("IMM reconciler for %s: ListTasks refuses Sort=EndTime; listing unsorted", self.key)
                self._sorted = False
                continue
            tasks = page.get("Tasks") or []
            for info in tasks:
                task_id = info.get("TaskId")
                if isinstance(task_id, str) and info.get("Status") in ("Succeeded", "Failed"):
                    self._seen_ended[task_id] = (start, info)
            for task_id, info in plan.ended(tasks, self._waiting).items():
                self.stats.settled_by_list += 1
                self._settle(task_id, Outcome(info=info, source="list_tasks"))
            token = page.get("NextToken") or None
            if token is None:
                break
        self._listed_since = start

    async def _page(self, token: str | None, **filters: Any) -> dict[str, Any]:
        self.stats.list_calls += 1
        return await self.hook.alist_tasks_page(self.key.project, token, page_size=PAGE_SIZE, **filters)

    async def _get_tasks(self, task_ids: list[str], start: float) -> BaseException | None:
        """GetTask for each of ``task_ids``; returns a transient error if any call met one."""
        if self._coverage_from is None:
            self._coverage_from = start
        slots = asyncio.Semaphore(self.settings.get_task_concurrency)
        failures: list[BaseException] = []

        async def check(task_id: str) -> None:
            entry = self._waiting.get(task_id)
            if entry is None:
                return
            async with slots:
                if task_id not in self._waiting:
                    return
                self.stats.get_calls += 1
                entry.call = asyncio.current_task()
                try:
                    info = await self.hook.aget_task(self.key.project, entry.task_type, task_id)
                except asyncio.CancelledError:
                    if task_id in self._waiting:
                        raise
                    return  # the wait ended meanwhile
                except Exception as err:
                    if _transient(err):
                        failures.append(err)  # checked again after the backoff
                    else:
                        self._settle(task_id, Outcome(error=err, source="get_task"))
                    return
            if info.get("Status") in ("Succeeded", "Failed"):
                self.stats.settled_by_get += 1
                self._settle(task_id, Outcome(info=info, source="get_task"))
            elif task_id in self._waiting:
                self._waiting[task_id].checked_at = start

        async def checked(task_id: str) -> None:
            # A task of its own, so that it alone is cancelled when its wait ends.
            entry = self._waiting.get(task_id)
            try:
                await asyncio.ensure_future(check(task_id))
            except asyncio.CancelledError:
                if entry is None or task_id in self._waiting:
                    raise
            finally:
                if entry is not None:
                    entry.call = None

        await asyncio.gather(*(checked(t) for t in task_ids))
        return failures[0] if failures else None

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _refuses_sort(err: BaseException) -> bool:
    """A client error that names the sort: the service does not sort ListTasks by EndTime."""
    text = f"{getattr(err, 'code', '')} {getattr(err, 'message', '')}"
    return getattr(err, "kind", None) == "client" and "Sort" in text


def _transient(err: BaseException) -> bool:
    """Throttling, a 5xx or the network: the next round tries again. Anything not from the hook
    (an unexpected exception) is treated the same way, never as a verdict on the shared path."""
    kind = getattr(err, "kind", None)
    return kind is None or kind in TRANSIENT_KINDS


class ReconcilerRegistry(LoopRegistry[ReconcileSettings]):
    """The reconcilers of one event loop (a triggerer runs all its triggers on one loop)."""

    settings_type = ReconcileSettings

    def reconciler(self, key: ReconcilerKey, hook: ImmHook) -> Reconciler:
        """The reconciler for ``key``, calling IMM through the newest ``hook`` it was given."""
        reconciler: Reconciler | None = self._members.get(key)
        if reconciler is None:
            reconciler = self._members[key] = Reconciler(key, hook, self.settings)
        reconciler.hook = hook
        return reconciler

    @property
    def reconcilers(self) -> list[Reconciler]:
        return list(self._members.values())
