"""Fixtures shared by the whole suite (``tests/README.md`` lists them)."""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from tests.emulated_imm import Imm, MakeConn, connect
from tests.sdk_clients import imm_client_for, mns_account_for

if TYPE_CHECKING:
    from alibabacloud_imm20200930.client import Client
    from mns.account import Account

_other_ids = itertools.count()

# The SDKs honour HTTP(S)_PROXY; loopback traffic must never go through a proxy.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


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


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real Airflow's home with a metadata DB, one for the session (``Imm.run`` asks for it)."""
    from tests.operators import airflow_env

    home = airflow_env.acquire(tmp_path_factory.mktemp("airflow"))
    yield home
    airflow_env.release()


@pytest.fixture
def imm(emulator: ImmEmulator, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Imm:
    """``emulator`` with its MNS channel (topic, queue, subscription) and a connection to it."""
    from airflow_provider_imm.hooks.mns import MnsHook

    env = Imm(emulator, lambda: Path(request.getfixturevalue("airflow_home")), monkeypatch)
    env.conn_id = env.connection()
    MnsHook(env.conn_id).ensure_notification_channel()
    emulator.counters.reset()
    return env


@pytest.fixture
def emulator_conn(emulator: ImmEmulator, monkeypatch: pytest.MonkeyPatch) -> MakeConn:
    """Make a connection to ``emulator`` (IMM, MNS, STS) without creating anything in it:
    ``emulator_conn(mns_queue=None, protocol="https")``; see :func:`tests.emulated_imm.connect`."""
    return functools.partial(connect, emulator, monkeypatch)


@pytest.fixture
def make_conn(monkeypatch: pytest.MonkeyPatch) -> MakeConn:
    """Register a connection to anywhere (no emulator) and return its id (a fresh id each time)."""

    def make(
        *, login: str | None = None, password: str | None = None, conn_type: str = "imm", **extras: Any
    ) -> str:
        from airflow.models import Connection

        conn_id = f"imm_other_{next(_other_ids)}"
        conn = Connection(
            conn_id=conn_id, conn_type=conn_type, login=login, password=password, extra=json.dumps(extras)
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn.as_json())
        return conn_id

    return make
