"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from tests.airflow_compat import pass_the_exception_to_dag_test_callbacks
from tests.sdk_clients import imm_client_for, mns_account_for

if TYPE_CHECKING:
    from alibabacloud_imm20200930.client import Client
    from mns.account import Account

# The SDKs honour HTTP(S)_PROXY; loopback traffic must never go through a proxy.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
pass_the_exception_to_dag_test_callbacks()


@pytest.fixture
def emulator(tmp_path) -> Iterator[ImmEmulator]:  # type: ignore[no-untyped-def]
    """A fresh emulator on a free loopback port, serving from its own thread."""
    with ImmEmulator(tmp_path / "oss") as emu:
        yield emu


@pytest.fixture
def imm_client(emulator: ImmEmulator) -> Client:
    """The official IMM SDK's client for ``emulator``."""
    return imm_client_for(emulator)


@pytest.fixture
def mns_account(emulator: ImmEmulator) -> Account:
    """The official MNS SDK's account for ``emulator``."""
    return mns_account_for(emulator)
