"""``imm-emulator``: announces its address, serves the SDKs, stops on SIGTERM, binds loopback only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from mns.account import Account
from mns.queue import QueueMeta

from airflow_provider_imm.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, ImmEmulator


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
        # Everything a client needs is on the line, so nobody has to guess the key pair.
        assert address["access_key_id"] == DEFAULT_ACCESS_KEY_ID
        assert address["access_key_secret"] == DEFAULT_ACCESS_KEY_SECRET
        assert (address["region"], address["account_id"]) == ("cn-hangzhou", "1234567890123456")
        assert address["projects"] == ["p1"]
        assert address["endpoint"].startswith("127.0.0.1:")
        # OSS's REST API has a port of its own: its /bucket/key paths would collide with MNS's.
        assert address["oss_url"].startswith("http://127.0.0.1:")
        assert address["oss_url"] != address["url"]
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


def test_help_shows_defaults_in_plain_text() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_imm.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},  # no line wrapped inside a value
    )
    assert result.returncode == 0
    out = " ".join(result.stdout.split())
    for default in ("127.0.0.1", "cn-hangzhou", "0.05", DEFAULT_ACCESS_KEY_ID, "test-project"):
        assert f"default: {default}" in out, default
    assert "``" not in out and ":class:" not in out


def test_a_bucket_lists_with_or_without_a_trailing_slash(emulator: ImmEmulator) -> None:
    emulator.oss.put("bkt", "a/b.txt", b"x")
    for path in ("/_emulator/oss/bkt", "/_emulator/oss/bkt/"):
        with urllib.request.urlopen(f"{emulator.url}{path}", timeout=10) as response:
            assert json.load(response) == {"keys": ["a/b.txt"]}


def test_the_oss_port_is_chosen_and_announced() -> None:
    with ImmEmulator(oss_port=0) as other:
        assert other.oss_port not in (0, other.port)
        assert other.info()["oss_url"] == other.oss_url == f"http://127.0.0.1:{other.oss_port}"
        with urllib.request.urlopen(f"{other.url}/_emulator/info", timeout=10) as response:
            assert json.load(response)["oss_url"] == other.oss_url
