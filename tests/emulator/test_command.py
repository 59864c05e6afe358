"""``imm-emulator``: announces its address, serves the SDKs, stops on SIGTERM, binds loopback only."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from mns.account import Account
from mns.queue import QueueMeta

from airflow_provider_imm.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET


def test_the_command_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_imm.emulator", "--port", "0", "--project", "p1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = json.loads(process.stdout.readline())
        assert address["url"] == f"http://{address['endpoint']}"
        assert address["endpoint"].startswith("127.0.0.1:")
        account = Account(address["url"], DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
        account.get_queue("q").create(QueueMeta())
        assert account.list_queue()[0] == [f"{address['url']}/queues/q"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com"])
def test_a_non_loopback_host_is_refused(host: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_imm.emulator", "--host", host],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"--host {host!r} is not a loopback address" in result.stderr
