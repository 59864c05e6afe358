"""Faults injected on demand: each armed fault applies to the next N matching events."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_imm.emulator.imm_errors import THROTTLING_CODE, THROTTLING_MESSAGE

NotificationFaultKind = Literal["drop", "duplicate", "delay", "corrupt", "base64"]
#: Bounds on what one arming may ask, so a fault cannot take the emulator's memory or hang it for ever.
MAX_FAULTS = 10_000
MAX_SECONDS = 3600.0


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"{name} must be a number of seconds from 0 to {MAX_SECONDS:g}, got {value!r:.40}")
    return float(value)


@dataclass(frozen=True)
class HttpFault:
    """An error answer in place of the real one (IMM: JSON error; MNS: XML error)."""

    status: int
    code: str
    message: str
    retry_after: float | None = None
    #: Seconds to wait before answering; with ``status == 0`` the call hangs that long, then answers
    #: normally.
    delay: float = 0.0
    #: Only calls of this action take the fault (None: any call).
    action: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise ValueError(f"status must be an HTTP status, got {self.status!r:.40}")
        if self.status != 0 and not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {self.status}")
        if not isinstance(self.code, str) or not isinstance(self.action, str | None):
            raise ValueError("code and action must be strings")
        if self.retry_after is not None:
            _seconds("retry_after", self.retry_after)
        _seconds("delay", self.delay)


@dataclass(frozen=True)
class NotificationFault:
    kind: NotificationFaultKind
    seconds: float = 0.0

    def __post_init__(self) -> None:
        _seconds("seconds", self.seconds)


class Faults:
    """Thread-safe queues of armed faults; the server takes one per call or notification."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._imm: deque[HttpFault] = deque()
        self._mns: deque[HttpFault] = deque()
        self._notifications: deque[NotificationFault] = deque()
        self.imm_latency = 0.0
        self.mns_latency = 0.0

    # IMM
    def throttle_imm(
        self, n: int = 1, *, retry_after: float | None = None, code: str = THROTTLING_CODE
    ) -> None:
        """The next ``n`` IMM calls answer HTTP 400 throttling (with ``x-acs-retry-after`` if given), as
        the flow control of :mod:`~airflow_provider_imm.emulator.flow_control` does when a limit is hit."""
        self._arm(self._imm, n, HttpFault(400, code, THROTTLING_MESSAGE, retry_after))

    def fail_imm(self, n: int = 1, *, status: int = 503, code: str = "ServiceUnavailable") -> None:
        """The next ``n`` IMM calls answer a server error."""
        self._arm(self._imm, n, HttpFault(status, code, "The request has failed due to a temporary failure."))

    def hang_imm(self, n: int = 1, *, seconds: float = 30.0) -> None:
        """The next ``n`` IMM calls stall ``seconds``, then are served (a client may have given up)."""
        self._arm(self._imm, n, HttpFault(0, "", "", delay=seconds))

    def take_imm(self) -> HttpFault | None:
        return self._take(self._imm)

    # MNS
    def fail_mns(
        self, n: int = 1, *, status: int = 503, code: str = "ServiceUnavailable", action: str | None = None
    ) -> None:
        """The next ``n`` MNS calls (of ``action`` only, e.g. ``BatchDeleteMessage``, if given) answer
        an XML error."""
        message = "Service is temporarily unavailable."
        self._arm(self._mns, n, HttpFault(status, code, message, action=action))

    def hang_mns(self, n: int = 1, *, seconds: float = 30.0) -> None:
        """The next ``n`` MNS calls stall ``seconds`` before being served."""
        self._arm(self._mns, n, HttpFault(0, "", "", delay=seconds))

    def take_mns(self, action: str = "") -> HttpFault | None:
        """The first armed MNS fault that applies to ``action``, removed from the queue."""
        with self._lock:
            for index, fault in enumerate(self._mns):
                if fault.action is None or fault.action == action:
                    del self._mns[index]
                    return fault
            return None

    # Notifications
    def drop_notifications(self, n: int = 1) -> None:
        self._arm(self._notifications, n, NotificationFault("drop"))

    def duplicate_notifications(self, n: int = 1) -> None:
        self._arm(self._notifications, n, NotificationFault("duplicate"))

    def delay_notifications(self, n: int = 1, *, seconds: float = 5.0) -> None:
        self._arm(self._notifications, n, NotificationFault("delay", seconds))

    def corrupt_notifications(self, n: int = 1) -> None:
        self._arm(self._notifications, n, NotificationFault("corrupt"))

    def base64_notifications(self, n: int = 1) -> None:
        self._arm(self._notifications, n, NotificationFault("base64"))

    def take_notification(self) -> NotificationFault | None:
        return self._take(self._notifications)

    def clear(self) -> None:
        with self._lock:
            self._imm.clear()
            self._mns.clear()
            self._notifications.clear()
            self.imm_latency = self.mns_latency = 0.0

    def arm(self, kind: str, **params: object) -> None:
        """Arm a fault by name, as the admin endpoint receives it (``{"kind": "throttle_imm", "n": 3}``)."""
        methods: dict[str, Callable[..., None]] = {
            "throttle_imm": self.throttle_imm,
            "fail_imm": self.fail_imm,
            "hang_imm": self.hang_imm,
            "fail_mns": self.fail_mns,
            "hang_mns": self.hang_mns,
            "drop_notifications": self.drop_notifications,
            "duplicate_notifications": self.duplicate_notifications,
            "delay_notifications": self.delay_notifications,
            "corrupt_notifications": self.corrupt_notifications,
            "base64_notifications": self.base64_notifications,
        }
        if kind in ("imm_latency", "mns_latency"):
            setattr(self, kind, _seconds("seconds", params.get("seconds", 0.0)))
            return
        if kind == "clear":
            self.clear()
            return
        if kind not in methods:
            known = sorted([*methods, "imm_latency", "mns_latency", "clear"])
            raise ValueError(f"unknown fault kind {kind!r}; one of {known}")
        methods[kind](**params)

    def _arm(self, queue: deque[Any], n: int, fault: object) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_FAULTS:
            raise ValueError(f"n must be a whole number from 1 to {MAX_FAULTS}, got {n!r:.40}")
        with self._lock:
            queue.extend([fault] * n)

    def _take(self, queue: deque[Any]) -> Any:
        with self._lock:
            return queue.popleft() if queue else None
