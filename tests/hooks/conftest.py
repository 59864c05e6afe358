"""Connections for the hook tests, exposed to Airflow as ``AIRFLOW_CONN_<ID>`` environment variables."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.models import Connection
from airflow.triggers.base import BaseTrigger

from airflow_provider_imm.emulator import ImmEmulator

_ids = itertools.count()
_UNSET: Any = object()

MakeConn = Callable[..., str]


@pytest.fixture
def make_conn(monkeypatch: pytest.MonkeyPatch) -> MakeConn:
    """Register a connection and return its id (a fresh id each time: Airflow may cache by id)."""

    def make(
        *, login: str | None = None, password: str | None = None, conn_type: str = "imm", **extras: Any
    ) -> str:
        conn_id = f"imm_test_{next(_ids)}"
        conn = Connection(
            conn_id=conn_id, conn_type=conn_type, login=login, password=password, extra=json.dumps(extras)
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn.as_json())
        return conn_id

    return make


@pytest.fixture
def emulator_conn(emulator: ImmEmulator, make_conn: MakeConn) -> MakeConn:
    """Make a connection to the emulator (IMM, MNS, STS): its key pair and project unless overridden.

    An extra given as None is left out.
    """

    def make(*, login: str | None = _UNSET, password: str | None = _UNSET, **overrides: Any) -> str:
        extras: dict[str, Any] = {
            "endpoint": emulator.endpoint,
            "protocol": "http",
            "region": emulator.region,
            "project": "test-project",
            "account_id": emulator.account_id,
            "mns_endpoint": emulator.url,
            "mns_topic": "imm-events",
            "mns_queue": "airflow-imm",
            "mns_subscription": "airflow-imm",
        }
        extras.update(overrides)
        return make_conn(
            login=emulator.access_key_id if login is _UNSET else login,
            password=emulator.access_key_secret if password is _UNSET else password,
            **{k: v for k, v in extras.items() if v is not None},
        )

    return make


@pytest.fixture
def finished_task(emulator: ImmEmulator, emulator_conn: MakeConn) -> str:
    """The TaskId of an OfficeConversion that has already succeeded (submitted with the account's key)."""
    from airflow_provider_imm.hooks.imm import ImmHook

    hook = ImmHook(emulator_conn())
    emulator.oss.put("bucket", "in/finished.docx", b"document")
    request = {
        "SourceURI": "oss://bucket/in/finished.docx",
        "TargetType": "pdf",
        "TargetURI": "oss://bucket/finished/{barename}",
    }
    task_id = str(hook.create_task("CreateOfficeConversionTask", request)["TaskId"])
    deadline = time.monotonic() + 5
    while hook.get_task(None, "OfficeConversion", task_id)["Status"] != "Succeeded":
        assert time.monotonic() < deadline, "the emulated task did not end"
        time.sleep(0.02)
    return task_id


async def run_trigger(trigger: BaseTrigger, timeout: float = 10.0) -> dict[str, Any]:
    """Run ``trigger`` as the triggerer does and return its one event's payload."""

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    (event,) = await asyncio.wait_for(collect(), timeout)
    return dict(event.payload)
