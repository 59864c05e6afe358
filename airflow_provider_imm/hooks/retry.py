"""Retrying IMM calls: exponential backoff with jitter, honouring the service's ``x-acs-retry-after``.

:class:`RetryPolicy` is the decision alone (pure: no clock, no sleep, no randomness of its own), so
the synchronous and the asynchronous call loops of :class:`Retrier` share it and tests can check it
directly. Create*Task is not idempotent: after a 5xx or a connection that broke mid-request the task
may exist, so only refusals that certainly did nothing (throttling, no connection at all) are retried
for it; the operator's reattach logic handles the rest.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any, Protocol, TypeVar

from airflow_provider_imm.hooks.errors import TRANSIENT_KINDS, ErrorKind, ImmApiError

T = TypeVar("T")

#: Defaults of the connection's ``retry_*`` extras (the connection form shows them), sized by
#: ``benchmarks/reconciliation.py``: 1,000 submissions at once against a limit of 20 Create calls a
#: second all get through, the slowest after about 60 s and 12 attempts; 20 attempts and 120 s leave
#: room for a backlog half as long again. The previous 5 attempts and 60 s failed three in four of
#: the 1,000 (749 and 771 in two runs).
DEFAULT_MAX_ATTEMPTS = 20
DEFAULT_MAX_RETRY_SECONDS = 120.0
DEFAULT_BASE_DELAY = 0.5
DEFAULT_MAX_DELAY = 20.0
#: Full jitter: each wait is drawn from the whole step, 0 to ``base * 2**(n-1)`` (capped). Measured
#: against decorrelated jitter on the burst above, it asked IMM 3% fewer times, and its slowest
#: submission needed 12 attempts where decorrelated jitter's needed 17, for a wall time 6% longer
#: (1.34 against 1.26 times the ideal); and it keeps the policy stateless. Every throttled answer is
#: a call IMM counts against the account, so the fewer the better. Equal jitter (waits of 50-100%
#: of the step, the previous default) keeps the retries of a burst bunched together.
DEFAULT_JITTER = 1.0


class _Log(Protocol):
    def warning(self, msg: Any, /, *args: Any) -> Any: ...


_SAFE_FOR_ANY_CALL: frozenset[ErrorKind] = frozenset({"throttled", "connect"})
_SAFE_FOR_IDEMPOTENT_CALL: frozenset[ErrorKind] = TRANSIENT_KINDS


def capped_exponential(failures: int, base: float, cap: float) -> float:
    """``base`` doubled after each failure but the first, at most ``cap`` (for any count of failures)."""
    return min(cap, base * 2.0 ** min(max(failures - 1, 0), 64))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded in attempts (first one included) and in total seconds spent on one logical call.

    A connection's ``retry_*`` extras are read into one of these (``ImmConnectionSettings.retry``).
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    base_delay: float = DEFAULT_BASE_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    #: Share of each backoff delay that is random (1.0, full jitter: 0-100% of the step; 0.5, equal
    #: jitter: 50-100%).
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_seconds < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry times must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")

    def within(self, max_seconds: float | None) -> RetryPolicy:
        """This policy with its time budget capped at ``max_seconds`` (never raised)."""
        if max_seconds is None or max_seconds >= self.max_seconds:
            return self
        return replace(self, max_seconds=max_seconds)

    @staticmethod
    def retryable(kind: ErrorKind, *, idempotent: bool) -> bool:
        return kind in (_SAFE_FOR_IDEMPOTENT_CALL if idempotent else _SAFE_FOR_ANY_CALL)

    def backoff(self, failures: int, rand: float) -> float:
        """Delay after the ``failures``-th failure, ``rand`` drawn uniformly from [0, 1)."""
        step = capped_exponential(failures, self.base_delay, self.max_delay)
        return step * (1.0 - self.jitter) + step * self.jitter * rand

    def next_delay(
        self, error: ImmApiError, *, attempts: int, elapsed: float, rand: float, idempotent: bool
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise ``error``.

        A retry-after from the service is a floor: waiting less would only be refused again.
        """
        if not self.retryable(error.kind, idempotent=idempotent) or attempts >= self.max_attempts:
            return None
        delay = self.backoff(attempts, rand)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        if elapsed + delay > self.max_seconds:
            return None
        return delay


@dataclass
class Retrier:
    """Runs one logical IMM call under a :class:`RetryPolicy`, sync or async.

    ``sleep``, ``async_sleep``, ``clock`` and ``rand`` are injectable so tests can record the waits.
    """

    policy: RetryPolicy
    _: KW_ONLY
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    log: _Log = field(default_factory=lambda: logging.getLogger(__name__))

    def call(
        self,
        action: str,
        fn: Callable[[], T],
        translate: Callable[[BaseException, str], ImmApiError],
        *,
        idempotent: bool,
    ) -> T:
        attempts = _Attempts(self, idempotent)
        while True:
            try:
                return fn()
            except Exception as exc:
                error = translate(exc, action)
            self.sleep(attempts.delay_after(error))  # out of the handler: the SDK's error stays unchained

    async def acall(
        self,
        action: str,
        fn: Callable[[], Awaitable[T]],
        translate: Callable[[BaseException, str], ImmApiError],
        *,
        idempotent: bool,
    ) -> T:
        attempts = _Attempts(self, idempotent)
        while True:
            try:
                return await fn()
            except Exception as exc:
                error = translate(exc, action)
            await self.async_sleep(attempts.delay_after(error))


class _Attempts:
    """The attempts of one logical call so far: the state both call loops of :class:`Retrier` keep."""

    def __init__(self, retrier: Retrier, idempotent: bool) -> None:
        self.retrier = retrier
        self.idempotent = idempotent
        self.start = retrier.clock()
        self.count = 0

    def delay_after(self, error: ImmApiError) -> float:
        """Seconds to wait after this failed attempt; raises ``error`` when no attempt is left."""
        self.count += 1
        retrier, policy = self.retrier, self.retrier.policy
        delay = policy.next_delay(
            error,
            attempts=self.count,
            elapsed=retrier.clock() - self.start,
            rand=retrier.rand(),
            idempotent=self.idempotent,
        )
        if delay is None:
            error.attempts = self.count
            raise error from None
        retrier.log.warning(
            "IMM %s attempt %d/%d failed with %s (%s); retrying in %.2f s",
            error.action,
            self.count,
            policy.max_attempts,
            error.code,
            f"HTTP {error.status_code}" if error.status_code is not None else "no response",
            delay,
        )
        return delay
