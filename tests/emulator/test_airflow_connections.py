"""``ImmEmulator.airflow_connections()``: a DAG test sets its output as ``AIRFLOW_CONN_*`` and the
provider's hooks reach the emulator, IMM and MNS, with no hand-written connection."""

from __future__ import annotations

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.emulator.server import emulator_connection

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


def test_its_connection_reaches_the_emulator(emulator: ImmEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    connections = emulator.airflow_connections()
    assert list(connections) == ["imm_default"]
    _use(connections, monkeypatch)
    _reaches_imm_and_mns("imm_default", emulator)


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
