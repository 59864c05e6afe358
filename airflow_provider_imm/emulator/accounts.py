"""The key pairs and STS tokens the emulated services accept."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class AccessKey:
    key_id: str
    secret: str
    #: Set for STS credentials: requests must carry this token.
    security_token: str | None = None
    #: Seconds since the epoch after which an STS credential is refused.
    expires_at: float | None = None


class Accounts:
    """Known credentials by AccessKey ID; the account id is shared by IMM and MNS."""

    def __init__(self, account_id: str = "1234567890123456") -> None:
        self.account_id = account_id
        self._lock = threading.Lock()
        self._keys: dict[str, AccessKey] = {}

    def add_key(self, key_id: str, secret: str) -> AccessKey:
        key = AccessKey(key_id, secret)
        with self._lock:
            self._keys[key_id] = key
        return key

    def add_sts(self, key_id: str, secret: str, token: str, *, expires_at: float | None = None) -> AccessKey:
        key = AccessKey(key_id, secret, token, expires_at)
        with self._lock:
            self._keys[key_id] = key
        return key

    def lookup(self, key_id: str) -> AccessKey | None:
        with self._lock:
            return self._keys.get(key_id)

    def sts_credentials(self) -> list[AccessKey]:
        """Every STS credential known, issued by the emulated STS or added: tests check that none of
        their secrets or tokens leaks."""
        with self._lock:
            return [key for key in self._keys.values() if key.security_token is not None]
