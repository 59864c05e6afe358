"""A task that has already ended, for the hook tests that wait on one."""

from __future__ import annotations

import time

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from tests.emulated_imm import MakeConn


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
