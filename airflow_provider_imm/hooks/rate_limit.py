"""A client-side limit on calls per second, shared by the threads of one process per connection.

IMM documents a per-account limit per second without numbers per API (reference/imm-api.md); a
batch that submits thousands of tasks as fast as it can spends most calls on ``Throttling.User``
answers and the hook's retries, and throttles every other user of the account meanwhile. Pacing
the calls below the quota keeps throttling the exception the retries handle, not the rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["DEFAULT_SUBMIT_RATE", "RateLimiter", "limiter_for"]

#: Create*Task calls per second a batch makes by default: well under the quotas IMM accounts are
#: usually given (tens per second), leaving room for other clients of the account.
DEFAULT_SUBMIT_RATE = 10.0


class RateLimiter:
    """Evenly spaced slots, ``rate`` per second, with a burst of ``burst`` after an idle spell.

    :meth:`acquire` reserves the next slot under a lock and sleeps outside it, so threads wait in
    the order they asked and the lock is never held across a sleep.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of calls per second, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = -float("inf")

    def reserve(self) -> float:
        """The seconds to wait before the next call (its slot is taken)."""
        step = 1.0 / self.rate
        with self._lock:
            now = self._clock()
            slot = max(self._next, now - (self.burst - 1) * step)
            self._next = slot + step
            return max(0.0, slot - now)

    def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)


_limiters: dict[tuple[str, float], RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(conn_id: str, rate: float) -> RateLimiter:
    """The process's limiter of ``conn_id`` at ``rate``: every batch of one worker process that uses
    the connection shares it (processes do not: size ``rate`` for the batches that run at once)."""
    with _registry_lock:
        key = (conn_id, float(rate))
        if key not in _limiters:
            _limiters[key] = RateLimiter(rate)
        return _limiters[key]
