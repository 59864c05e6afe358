"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from airflow_provider_imm.emulator import ImmEmulator

# The SDKs honour HTTP(S)_PROXY; loopback traffic must never go through a proxy.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture
def emulator(tmp_path) -> Iterator[ImmEmulator]:  # type: ignore[no-untyped-def]
    """A fresh emulator on a free loopback port, serving from its own thread."""
    with ImmEmulator(tmp_path / "oss") as emu:
        yield emu
