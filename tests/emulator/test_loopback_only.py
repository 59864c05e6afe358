"""The emulator binds loopback only and answers only requests addressed to a loopback host.

A browser page on another site can reach 127.0.0.1 by DNS rebinding, but its requests still carry
the attacker's host name in ``Host``; they are refused on every route, in each service's own error
shape, before any state is read or changed.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from tests.emulator.raw_http import admin_error, imm_error, mns_error, mns_headers, send

FOREIGN_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1.evil.example:{port}",
    "localhost.evil.example",
    "0.0.0.0:{port}",
    "10.0.0.1:{port}",
    "[2001:db8::1]:{port}",
    "127.0.0.1@evil.example",
    "http://evil.example:{port}",
    "https://10.0.0.1",
    "",
    # A loopback name followed by something other than a port:
    "127.0.0.1:{port}@evil.example",
    "127.0.0.1:evil.example",
    "127.0.0.1:{port}/evil",
    "localhost:{port}:{port}",
    "[::1]:{port}@evil.example",
    "[::1]evil.example",
    "http://127.0.0.1:{port}@evil.example",
    "127.0.0.1:",
    "127.0.0.1: {port}",
]
# The last: alibabacloud-credentials sends the STS endpoint, scheme included, as Host.
LOOPBACK_HOSTS = [
    "127.0.0.1:{port}",
    "localhost:{port}",
    "LOCALHOST",
    "[::1]:{port}",
    "127.1.2.3:{port}",
    "http://127.0.0.1:{port}",
]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.168.1.1", "example.com", ""])
def test_the_class_refuses_to_bind_a_non_loopback_address(host: str) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        ImmEmulator(host=host)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_requests_for_another_host_are_refused_on_every_route(emulator: ImmEmulator, host: str) -> None:
    foreign = {"Host": host.format(port=emulator.port)}
    emulator.mns.create_queue("jobs")
    emulator.oss.put("bkt", "a.txt", b"secret data")

    status, _, body = send(emulator, "POST", "/_emulator/faults", b'{"kind": "throttle_imm"}', foreign)
    assert 400 <= status < 500
    admin_error(body)
    for target in (
        "/_emulator/info",
        "/_emulator/counters",
        "/_emulator/oss/bkt",
        "/_emulator/oss/bkt/a.txt",
    ):
        status, _, body = send(emulator, "GET", target, headers=foreign)
        assert 400 <= status < 500
        assert b"secret" not in body and b"a.txt" not in body
        admin_error(body)
    status, _, body = send(emulator, "POST", "/?Action=GetProject", headers=foreign)
    assert 400 <= status < 500
    imm_error(body)
    status, _, body = send(emulator, "GET", "/?Action=AssumeRole&Version=2015-04-01", headers=foreign)
    assert 400 <= status < 500
    imm_error(body)
    headers = {**mns_headers(emulator, "GET", "/queues/jobs/messages"), **foreign}
    status, _, body = send(emulator, "GET", "/queues/jobs/messages", headers=headers)
    assert 400 <= status < 500
    mns_error(body)

    assert emulator.faults.take_imm() is None
    assert emulator.counters.snapshot() == {}


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_host_names_are_served(emulator: ImmEmulator, host: str) -> None:
    status, _, body = send(
        emulator, "GET", "/_emulator/info", headers={"Host": host.format(port=emulator.port)}
    )
    assert status == 200
    assert json.loads(body)["endpoint"] == emulator.endpoint


@pytest.mark.parametrize(
    "authority",
    ["evil.example", "evil.example:{port}", "127.0.0.1:{port}@evil.example", "10.0.0.1:{port}"],
)
def test_absolute_targets_naming_another_host_are_refused(emulator: ImmEmulator, authority: str) -> None:
    emulator.oss.put("bkt", "a.txt", b"secret data")
    for path in ("/_emulator/info", "/_emulator/oss/bkt/a.txt"):
        target = f"http://{authority.format(port=emulator.port)}{path}"
        status, _, body = send(emulator, "GET", target)  # with the emulator's own Host
        assert status == 403, (target, status)
        assert b"secret" not in body
        admin_error(body)


def test_absolute_targets_naming_the_emulator_are_served(emulator: ImmEmulator) -> None:
    status, _, body = send(emulator, "GET", f"http://{emulator.endpoint}/_emulator/info")
    assert status == 200
    assert json.loads(body)["endpoint"] == emulator.endpoint


def test_the_sdks_host_headers_are_served(emulator: ImmEmulator, imm_client, mns_account) -> None:  # type: ignore[no-untyped-def]
    from alibabacloud_imm20200930 import models
    from mns.queue import QueueMeta

    assert imm_client.list_projects(models.ListProjectsRequest()).status_code == 200
    mns_account.get_queue("q").create(QueueMeta())
    assert "q" in emulator.mns.store.queues
