"""``imm-setup-notifications`` on a connection naming RocketMQ: checks the topic and consumer group
(on the emulator, creates the missing ones) over the RocketMQ protocol, signed as the client signs."""

from __future__ import annotations

import json

import pytest

from airflow_provider_imm.cli import main
from airflow_provider_imm.emulator import ImmEmulator
from tests.emulated_imm import MakeConn
from tests.rocketmq_channel import ROCKETMQ_GROUP, ROCKETMQ_TOPIC, rocketmq_extras


def test_creates_topic_and_group_on_the_emulator_then_reports_they_exist(
    emulator: ImmEmulator, emulator_conn: MakeConn, capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = emulator_conn(**rocketmq_extras(emulator))
    assert main(["--conn-id", conn_id]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"created topic        {ROCKETMQ_TOPIC}",
        f"created group        {ROCKETMQ_GROUP}",
    ]
    assert emulator.call(emulator.rocketmq.has_topic, ROCKETMQ_TOPIC)
    assert emulator.call(emulator.rocketmq.has_group, ROCKETMQ_GROUP)

    assert main(["--conn-id", conn_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "topic": ROCKETMQ_TOPIC,
        "group": ROCKETMQ_GROUP,
        "created": [],
    }


def test_wrong_rocketmq_password_is_one_line_naming_the_extras(
    emulator: ImmEmulator, emulator_conn: MakeConn, capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = emulator_conn(**rocketmq_extras(emulator, rocketmq_password="wrong-password-123"))
    assert main(["--conn-id", conn_id]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "rocketmq_password" in err and "wrong-password-123" not in err
