"""What the emulated services share, handed to each by the server that owns them.

Services depend on this small context, never on :class:`ImmEmulator`: the server builds the
context and the services, and wires the links between services (IMM and OSS event rules publish
to MNS) itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from airflow_provider_imm.emulator.accounts import Accounts
from airflow_provider_imm.emulator.clock import EmulatedClock
from airflow_provider_imm.emulator.counters import CallCounters
from airflow_provider_imm.emulator.faults import Faults
from airflow_provider_imm.emulator.oss import LocalOss

T = TypeVar("T")


class OnLoop(Protocol):
    """Runs ``fn(*args)`` on the server's event loop and returns its result (thread-safe)."""

    def __call__(self, fn: Callable[..., T], *args: Any) -> T: ...


@dataclass(frozen=True)
class ServiceContext:
    region: str
    accounts: Accounts
    clock: EmulatedClock
    counters: CallCounters
    faults: Faults
    oss: LocalOss
    call: OnLoop

    @property
    def account_id(self) -> str:
        return self.accounts.account_id
