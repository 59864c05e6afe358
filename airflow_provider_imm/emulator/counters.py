"""Counts of API calls per service and action, for tests and benchmarks to assert on."""

from __future__ import annotations

import threading
from collections import Counter


class CallCounters:
    """Thread-safe: the server loop increments, tests in other threads read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def incr(self, service: str, action: str) -> None:
        with self._lock:
            self._counts[f"{service}:{action}"] += 1

    def get(self, service: str, action: str) -> int:
        with self._lock:
            return self._counts[f"{service}:{action}"]

    def snapshot(self) -> dict[str, int]:
        """All counts as ``{"imm:GetTask": 3, "mns:ReceiveMessage": 7, ...}``."""
        with self._lock:
            return dict(self._counts)

    def total(self, service: str) -> int:
        prefix = f"{service}:"
        with self._lock:
            return sum(n for k, n in self._counts.items() if k.startswith(prefix))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
