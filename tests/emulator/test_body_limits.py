"""Oversized bodies are refused from their Content-Length, or while streaming, before being read whole.

The first tests announce a large body and never send it: an emulator that tried to read before
refusing would wait for the bytes and time out, so an answer proves the refusal came first. The
last one streams 100 MB at an emulator in its own process and bounds how much its memory grows.
"""

from __future__ import annotations

import gzip
import http.client
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.emulator.bodies import (
    ADMIN_JSON_MAX_BODY,
    ADMIN_MAX_BODY,
    IMM_MAX_BODY,
    MNS_MAX_BODY,
)
from tests.emulator.raw_http import admin_error, imm_error, mns_error, mns_headers, send

MB = 1024 * 1024


def announce_only(
    emulator: ImmEmulator, method: str, target: str, length: int, headers: dict[str, str]
) -> tuple[int, bytes]:
    """Send the head of a request announcing ``length`` bytes, none of them, and read the answer."""
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {emulator.endpoint}", f"Content-Length: {length}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def test_an_mns_body_over_the_limit_is_refused_before_it_is_read(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    target = "/queues/jobs/messages"
    status, body = announce_only(emulator, "POST", target, MB, mns_headers(emulator, "POST", target, b"x"))
    assert status == 400
    error = mns_error(body)
    assert error["Code"] == "InvalidArgument"
    assert str(MNS_MAX_BODY) in error["Message"]


def test_a_1mb_xml_body_is_refused_without_being_parsed(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    target = "/queues/jobs/messages"
    xml = b'<?xml version="1.0"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>'
    xml += b"<a>" * (MB // 3) + b"</MessageBody></Message>"
    status, _, body = send(emulator, "POST", target, xml, mns_headers(emulator, "POST", target, xml))
    assert status == 400
    assert "MalformedXML" not in body.decode()  # refused for its size, not parsed
    assert mns_error(body)["Code"] == "InvalidArgument"
    assert emulator.mns.queue_messages("jobs") == []


def test_a_chunked_mns_body_over_the_limit_is_refused(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    target = "/queues/jobs/messages"
    connection = http.client.HTTPConnection(emulator.endpoint, timeout=30)
    try:
        headers = mns_headers(emulator, "POST", target, b"x")
        connection.request("POST", target, iter([b"<" * 65536] * 16), headers, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 400
        assert mns_error(response.read())["Code"] == "InvalidArgument"
    finally:
        connection.close()


def test_an_imm_body_over_the_limit_is_refused_before_it_is_read(emulator: ImmEmulator) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, body = announce_only(emulator, "POST", "/?Action=GetProject", IMM_MAX_BODY + 1, headers)
    assert status == 400
    assert imm_error(body)["Code"] == "InvalidArgument"


def test_an_admin_upload_over_the_limit_is_refused_before_it_is_read(emulator: ImmEmulator) -> None:
    status, body = announce_only(emulator, "PUT", "/_emulator/oss/bkt/big", 100 * MB, {})
    assert status == 413
    assert "bytes" in admin_error(body)
    assert not emulator.oss.exists("bkt", "big")


def peak_rss_kib(pid: int) -> int:
    """The most memory the process has held resident so far (KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("target", ["/_emulator/oss/bkt/big", "/queues/jobs/messages", "/"])
def test_refused_100mb_streams_do_not_grow_the_emulators_memory(target: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_imm.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = json.loads(process.stdout.readline())
        endpoint = address["endpoint"]
        before = peak_rss_kib(process.pid)
        for _ in range(2):
            connection = http.client.HTTPConnection(endpoint, timeout=60)
            try:
                chunks = iter([b"x" * MB] * 100)
                connection.request(
                    "PUT" if target.startswith("/_") else "POST", target, chunks, encode_chunked=True
                )
                status = connection.getresponse().status
            except (BrokenPipeError, ConnectionResetError):
                status = 413  # the emulator answered and closed while the client was still sending
            finally:
                connection.close()
            assert 400 <= status < 500
        grown = peak_rss_kib(process.pid) - before
        assert grown < 24 * 1024, f"peak RSS grew by {grown} KiB"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def test_bodies_within_the_limits_are_served(emulator: ImmEmulator) -> None:
    data = b"d" * (5 * MB)
    status, _, _ = send(emulator, "PUT", "/_emulator/oss/bkt/five-mb", data)
    assert status == 201
    assert emulator.oss.get("bkt", "five-mb") == data
    assert ADMIN_MAX_BODY >= 64 * MB


ADMIN_JSON_ROUTES = [
    "/_emulator/faults",
    "/_emulator/clock",
    "/_emulator/imm/behaviour",
    "/_emulator/imm/tasks/t1/finish",
]


@pytest.mark.parametrize("target", ADMIN_JSON_ROUTES)
def test_an_admin_json_body_over_its_small_limit_is_refused_before_it_is_read(
    emulator: ImmEmulator, target: str
) -> None:
    status, body = announce_only(emulator, "POST", target, ADMIN_JSON_MAX_BODY + 1, {})
    assert status == 413
    assert str(ADMIN_JSON_MAX_BODY) in admin_error(body)
    assert ADMIN_JSON_MAX_BODY <= MB


def test_a_chunked_admin_json_body_over_its_limit_is_refused(emulator: ImmEmulator) -> None:
    connection = http.client.HTTPConnection(emulator.endpoint, timeout=30)
    try:
        chunks = iter([b'{"kind": "' + b"x" * 65536] + [b"x" * 65536] * 40)
        connection.request("POST", "/_emulator/faults", chunks, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        assert str(ADMIN_JSON_MAX_BODY) in admin_error(response.read())
    finally:
        connection.close()
    assert emulator.faults.take_imm() is None


def test_a_gzip_bomb_on_an_admin_json_route_is_refused_at_the_small_limit(emulator: ImmEmulator) -> None:
    bomb = gzip.compress(b" " * (8 * MB), compresslevel=9)  # valid JSON whitespace, decompressed
    assert len(bomb) < ADMIN_JSON_MAX_BODY
    status, _, body = send(emulator, "POST", "/_emulator/clock", bomb, {"Content-Encoding": "gzip"})
    assert status == 413
    assert str(ADMIN_JSON_MAX_BODY) in admin_error(body)


def test_an_upload_larger_than_the_json_limit_is_still_served(emulator: ImmEmulator) -> None:
    data = b"u" * (ADMIN_JSON_MAX_BODY + 1)
    status, _, _ = send(emulator, "PUT", "/_emulator/oss/bkt/upload", data)
    assert status == 201
    assert emulator.oss.get("bkt", "upload") == data
