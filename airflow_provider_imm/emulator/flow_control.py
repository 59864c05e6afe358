"""Flow control on demand: a token bucket per action per account, off until a rate is set.

IMM documents a per-account limit per second that "resets every second", without per-API numbers
(``reference/imm-api.md``); MNS documents limits per queue and per account. Both are modelled the
same way: each (account, action) has a bucket holding at most ``burst`` calls (by default the
rate, so a limit of N/s lets N calls through at once), refilled continuously at ``per_second``.
A call finding the bucket empty is refused with the service's throttling answer; the refusal does not
take a token, so clients that keep asking do not push each other's turn back.

Unlike :mod:`~airflow_provider_imm.emulator.faults` (one-shot answers armed for the next N calls),
a limit holds until it is removed, and whether a call passes depends only on the calls before it
and on time. The decision is pure: time comes from an injected ``clock`` (monotonic seconds), so
tests can freeze it. Every key the emulator accepts belongs to its one account, so the account in
the key is the emulator's account id; it is there so that buckets are per account, as IMM's are.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

#: Most calls per second a limit may allow: beyond it a limit changes nothing the emulator can serve.
MAX_RATE = 1_000_000.0
_ACTION = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")


@dataclass(frozen=True)
class Rate:
    """``per_second`` calls per second, with at most ``burst`` at once (default: ``per_second``,
    at least one call)."""

    per_second: float
    burst: float | None = None

    def __post_init__(self) -> None:
        _check_number("per_second", self.per_second)
        if self.burst is not None:
            _check_number("burst", self.burst)
            if self.burst < 1:
                raise ValueError(f"burst must be at least 1 call, got {self.burst!r:.40}")

    @property
    def capacity(self) -> float:
        return self.burst if self.burst is not None else max(1.0, self.per_second)


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_RATE:
        raise ValueError(
            f"{name} must be a number of calls per second above 0 and at most {MAX_RATE:g}, "
            f"got {value!r:.40}; remove the limit instead of setting it to 0"
        )


class TokenBucket:
    """One bucket; ``take(now)`` decides one call. Not thread-safe on its own (see FlowControl)."""

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = rate.capacity
        self.updated = now

    def take(self, now: float) -> float | None:
        """None when the call may pass (a token is spent), else seconds until a token is there."""
        elapsed = max(0.0, now - self.updated)  # a clock never runs backwards here
        self.tokens = min(self.rate.capacity, self.tokens + elapsed * self.rate.per_second)
        self.updated = max(self.updated, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate.per_second


class FlowControl:
    """The limits of one service, by action, and their buckets by (account, action); thread-safe.

    ``known``: the service's action names, to refuse a limit on a name no call carries; None accepts
    any CamelCase name. ``retry_after``: throttled answers say when to ask again (IMM's
    ``x-acs-retry-after``); off by default, as IMM documents no such header.
    """

    def __init__(
        self,
        *,
        known: Collection[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.retry_after = False
        self._known = frozenset(known) if known is not None else None
        self._lock = threading.Lock()
        self._rates: dict[str, Rate] = {}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def set_rate(self, action: str, per_second: float | None, *, burst: float | None = None) -> None:
        """Limit ``action`` to ``per_second`` calls per second (None: no limit); buckets start full."""
        self._check_action(action)
        rate = None if per_second is None else Rate(per_second, burst)
        with self._lock:
            self._buckets = {key: b for key, b in self._buckets.items() if key[1] != action}
            if rate is None:
                self._rates.pop(action, None)
            else:
                self._rates[action] = rate

    def set_rates(self, rates: Mapping[str, float | None]) -> None:
        """Several :meth:`set_rate` at once, all checked before any is set."""
        if not isinstance(rates, Mapping):
            raise ValueError('rates must map action names to calls per second, e.g. {"GetTask": 20}')
        for action, per_second in rates.items():
            self._check_action(action)
            if per_second is not None:
                Rate(per_second)
        for action, per_second in rates.items():
            self.set_rate(action, per_second)

    def clear(self) -> None:
        """No limit on any action, and no retry-after."""
        with self._lock:
            self._rates.clear()
            self._buckets.clear()
        self.retry_after = False

    def rates(self) -> dict[str, dict[str, float | None]]:
        """The limits set, as JSON: ``{"GetTask": {"per_second": 20.0, "burst": null}}``."""
        with self._lock:
            return {a: {"per_second": r.per_second, "burst": r.burst} for a, r in sorted(self._rates.items())}

    def admit(self, account: str, action: str) -> float | None:
        """None when the call may be served now, else the seconds until it would be (a refusal)."""
        with self._lock:
            rate = self._rates.get(action)
            if rate is None:
                return None
            now = self.clock()
            bucket = self._buckets.get((account, action))
            if bucket is None:
                bucket = self._buckets[(account, action)] = TokenBucket(rate, now)
            return bucket.take(now)

    def _check_action(self, action: object) -> None:
        if not isinstance(action, str) or not _ACTION.match(action):
            raise ValueError(
                f"action must be an API action name such as 'GetTask' or 'ReceiveMessage', got {action!r:.60}"
            )
        if self._known is not None and action not in self._known:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(sorted(self._known))}")


def retry_after_ms(wait: float) -> int:
    """A wait in seconds as whole milliseconds, at least 1 (the unit of ``x-acs-retry-after``)."""
    return max(1, math.ceil(wait * 1000))


def parse_rate(option: str) -> tuple[str, str, float]:
    """``imm:CreateOfficeConversionTask=20`` as ``("imm", "CreateOfficeConversionTask", 20.0)``."""
    service, _, rest = option.partition(":")
    action, _, number = rest.partition("=")
    if service not in ("imm", "mns") or not action or not number:
        raise ValueError(
            f"{option[:80]!r} is not SERVICE:ACTION=PER_SECOND with SERVICE imm or mns, "
            "e.g. imm:CreateOfficeConversionTask=20"
        )
    try:
        per_second = float(number)
    except ValueError:
        raise ValueError(f"{number[:40]!r} is not a number of calls per second, e.g. 20 or 0.5") from None
    Rate(per_second)
    return service, action, per_second
