"""``ImmEmulator.airflow_connections()``: a DAG test sets its output as ``AIRFLOW_CONN_*`` and the
provider's hooks reach the emulator, IMM and MNS, and the Alibaba provider's ``OSSHook`` its OSS,
with no hand-written connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.emulator.server import emulator_connection, emulator_oss_connection

REQUEST = {"SourceURI": "oss://docs/in/a.docx", "TargetType": "pdf", "TargetURI": "oss://docs/out/{barename}"}


def _use(connections: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for conn_id, value in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)


def _reaches_imm_and_mns(conn_id: str, emulator: ImmEmulator) -> None:
    from airflow_provider_imm.hooks.imm import ImmHook
    from airflow_provider_imm.hooks.mns import MnsHook

    emulator.oss.put("docs", "in/a.docx", b"a document")
    imm = ImmHook(conn_id)
    task_id = str(imm.create_task("CreateOfficeConversionTask", REQUEST)["TaskId"])
    assert imm.get_task(None, "OfficeConversion", task_id)["TaskId"] == task_id

    mns = MnsHook(conn_id)
    channel = mns.ensure_notification_channel()
    assert set(channel.created) == {"topic", "queue", "subscription"}
    mns.send("hello")
    assert [m.body for m in mns.receive(wait_seconds=1)] == ["hello"]


def _reaches_oss(oss_conn_id: str, emulator: ImmEmulator, tmp_path: Path) -> None:
    """``OSSHook`` unchanged, on its connection alone: it writes, lists, reads, copies and deletes
    objects of the emulator's one storage (what IMM tasks read and write)."""
    import alibabacloud_oss_v2 as oss
    from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

    emulator.oss.put("docs", "inbox/a.docx", b"a document")
    hook = OSSHook(oss_conn_id=oss_conn_id)
    hook.load_string("inbox/b.txt", "written through OSSHook", bucket_name="docs")
    local = tmp_path / "c.bin"
    local.write_bytes(b"\x00\x01" * 1000)
    hook.upload_local_file("oss://docs/inbox/sub/c.bin", str(local))
    assert emulator.oss.get("docs", "inbox/b.txt") == b"written through OSSHook"
    assert emulator.oss.get("docs", "inbox/sub/c.bin") == local.read_bytes()

    client = hook.get_bucket("docs")
    pages = client.list_objects_v2_paginator(limit=2).iter_page(
        oss.ListObjectsV2Request(bucket="docs", prefix="inbox/")
    )
    listed = [(o.key, o.size) for page in pages for o in page.contents or []]
    assert listed == [("inbox/a.docx", 10), ("inbox/b.txt", 23), ("inbox/sub/c.bin", 2000)]

    assert hook.read_key("docs", "inbox/a.docx") == "a document"
    assert hook.head_key("docs", "inbox/a.docx").content_length == 10
    assert hook.object_exists("oss://docs/inbox/a.docx")
    assert not hook.object_exists("oss://docs/inbox/missing.docx")
    downloaded = tmp_path / "down.bin"
    assert hook.download_file("inbox/sub/c.bin", str(downloaded), bucket_name="docs") == str(downloaded)
    assert downloaded.read_bytes() == local.read_bytes()

    client.copy_object(
        oss.CopyObjectRequest(
            bucket="docs", key="processed/a.docx", source_bucket="docs", source_key="inbox/a.docx"
        )
    )
    hook.delete_object("inbox/a.docx", bucket_name="docs")
    assert emulator.oss.list("docs", "inbox/") == ["inbox/b.txt", "inbox/sub/c.bin"]
    assert emulator.oss.list("docs", "processed/") == ["processed/a.docx"]
    assert emulator.oss.get("docs", "processed/a.docx") == b"a document"


def test_its_connections_reach_the_emulator(
    emulator: ImmEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connections = emulator.airflow_connections()
    assert list(connections) == ["imm_default", "oss_default"]
    _use(connections, monkeypatch)
    _reaches_imm_and_mns("imm_default", emulator)
    _reaches_oss("oss_default", emulator, tmp_path)


def test_the_address_alone_is_enough_for_an_emulator_with_defaults(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """What a process that started the emulator elsewhere (``imm-emulator``) knows: its URL."""
    with ImmEmulator(tmp_path / "oss") as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_ELSEWHERE", emulator_connection(emulator.url))
        _reaches_imm_and_mns("elsewhere", emulator)


def test_options_set_or_leave_out_connection_fields(
    emulator: ImmEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models import Connection

    _use(
        emulator.airflow_connections("imm_other", project="other", mns_queue=None, retry_max_attempts=2),
        monkeypatch,
    )
    conn = Connection.get_connection_from_secrets("imm_other")
    assert conn.conn_type == "imm"
    assert conn.login == emulator.access_key_id
    assert conn.extra_dejson["project"] == "other"
    assert conn.extra_dejson["retry_max_attempts"] == 2
    assert "mns_queue" not in conn.extra_dejson


def test_the_oss_connection_is_left_out_or_renamed_and_keeps_the_emulators_keys(
    emulator: ImmEmulator,
) -> None:
    assert list(emulator.airflow_connections("imm_x", oss_conn_id=None)) == ["imm_x"]
    connections = emulator.airflow_connections(
        "imm_x", oss_conn_id="oss_x", oss_bucket="docs", access_key_id="LTAIother", region="cn-beijing"
    )
    oss = json.loads(connections["oss_x"])
    assert oss["schema"] == "docs"
    # The imm options (a wrong key, another region) are the imm connection's alone.
    assert oss["extra"]["access_key_id"] == emulator.access_key_id
    assert oss["extra"]["region"] == emulator.region
    assert oss["extra"]["endpoint"] == emulator.oss_url


# The oss connection as OSSHook reads it: extras only (login and password are ignored by the hook).
def test_the_oss_connection_holds_what_osshook_reads() -> None:
    value = json.loads(
        emulator_oss_connection(
            "http://127.0.0.1:8766/", region="cn-shanghai", access_key_id="LTAIk", access_key_secret="s3"
        )
    )
    assert value == {
        "conn_type": "oss",
        "extra": {
            "auth_type": "AK",
            "access_key_id": "LTAIk",
            "access_key_secret": "s3",
            "region": "cn-shanghai",
            "endpoint": "http://127.0.0.1:8766",
        },
    }
    assert json.loads(emulator_oss_connection("http://127.0.0.1:1", bucket="b"))["schema"] == "b"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8766", "https://10.1.2.3:443", "http://[::1]:8766"])
def test_an_ip_literal_endpoint_is_taken_as_is(url: str) -> None:
    assert json.loads(emulator_oss_connection(url))["extra"]["endpoint"] == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://localhost:8766", "host 'localhost' is a name"),
        ("http://oss.example:80", "virtual-hosted style"),
        ("127.0.0.1:8766", "is not an http(s) URL"),
        ("ftp://127.0.0.1:21", "is not an http(s) URL"),
        ("http://", "is not an http(s) URL"),
        ("http://" + "h" * 10_000_000, "(10000000 characters)"),
    ],
)
def test_an_endpoint_osshook_cannot_use_is_refused_with_the_fix(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=r"^oss_url: ") as raised:
        emulator_oss_connection(url)
    assert says in str(raised.value)
    assert "127.0.0.1" in str(raised.value)
    assert len(str(raised.value)) < 400
