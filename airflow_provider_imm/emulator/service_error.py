"""What every emulated service's error answer holds; each service renders it in its own format."""

from __future__ import annotations


class ServiceError(Exception):
    """HTTP ``status``, the service's error ``code`` and a ``message`` for the client, so it must never
    carry a secret. Each service subclasses it, so a handler catches only its own service's errors."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
