"""What only a fresh interpreter shows: the worker's IMM calls and a trigger waiting by GetTask import no
SDK.

Importing the IMM SDK stack costs a task process most of its CPU (``benchmarks/task_cost.py``); the
hook's calls go through :mod:`airflow_provider_imm.hooks.rpc`, which reads one constant from the SDK
(the version of its core, ``Tea``, a one-line module, for the ``user-agent`` it sends).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from tests.emulated_imm import MakeConn
from tests.minimal_requests import MINIMAL

_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from airflow_provider_imm import sdk

    def sdk_modules():
        return sorted(m for m in sys.modules if m.partition(".")[0] in sdk.SDK_PACKAGES)

    from airflow_provider_imm.hooks.imm import ImmHook
    hook = ImmHook(sys.argv[1])
    request = json.loads(sys.argv[2])
    task_id = hook.create_task("CreateOfficeConversionTask", request)["TaskId"]
    status = hook.get_task(None, "OfficeConversion", task_id)["Status"]
    listed = [t["TaskId"] for t in hook.list_tasks()]
    sync = sdk_modules()

    async def trigger():
        from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger

        waiting = ImmTaskCompletedTrigger(
            task_id=task_id, task_type="OfficeConversion", imm_conn_id=sys.argv[1], poll_interval=0.05
        )
        async for event in waiting.run():
            return event.payload["task_id"]

    read = asyncio.run(trigger())
    print(json.dumps({"sync": sync, "async": sdk_modules(), "task": [task_id, status, listed, read]}))
    """
)


@pytest.mark.parametrize("credentials", ["access_key", "sts"])
def test_worker_and_trigger_calls_import_no_sdk(
    emulator: ImmEmulator, emulator_conn: MakeConn, credentials: str
) -> None:
    if credentials == "sts":
        emulator.accounts.add_sts("STS.key", "sts-secret-value", "sts-token-value")
        conn_id = emulator_conn(
            mns_queue=None, login="STS.key", password="sts-secret-value", security_token="sts-token-value"
        )
    else:
        conn_id = emulator_conn(mns_queue=None)
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT, conn_id, json.dumps(MINIMAL["CreateOfficeConversionTask"].request)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    task_id, status, listed, read = report["task"]
    assert status in ("Running", "Succeeded") and listed == [task_id] and read == task_id
    assert report["sync"] == report["async"] == ["Tea"]
