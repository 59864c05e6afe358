"""``imm-setup-notifications`` reads the connection through Airflow and sets up the channel once."""

from __future__ import annotations

import json

import pytest

from airflow_provider_imm.cli import main
from airflow_provider_imm.emulator import ImmEmulator
from tests.emulated_imm import MakeConn


def test_creates_the_channel_then_reports_it_exists(
    emulator: ImmEmulator, emulator_conn: MakeConn, capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = emulator_conn()
    assert main(["--conn-id", conn_id]) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[:3] == [
        "created topic        imm-events",
        "created queue        airflow-imm",
        "created subscription airflow-imm",
    ]
    assert (
        first[3]
        == f"Queue endpoint: acs:mns:{emulator.region}:{emulator.account_id}:queues/airflow-imm (JSON)"
    )
    assert first[4:] == [
        "Operators add Notification (topic 'imm-events') to each request: leave Notification out of yours."
    ]
    assert "Notification=" not in "\n".join(first)

    assert main(["--conn-id", conn_id, "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["created"], second["topic"], second["format"]) == ([], "imm-events", "JSON")
    assert emulator.counters.get("mns", "CreateTopic") == 1


def test_names_and_format_from_the_command_line(
    emulator: ImmEmulator, emulator_conn: MakeConn, capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = emulator_conn(mns_topic=None, mns_queue=None, mns_subscription=None)
    args = [
        "--conn-id",
        conn_id,
        "--topic",
        "t1",
        "--queue",
        "q1",
        "--subscription",
        "s1",
        "--format",
        "xml",
        "--json",
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["topic"], result["queue"], result["subscription"], result["format"]) == (
        "t1",
        "q1",
        "s1",
        "XML",
    )
    assert result["created"] == ["topic", "queue", "subscription"]


def test_errors_are_one_line_and_exit_1(emulator_conn: MakeConn, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conn-id", "imm_cli_undefined"]) == 1
    assert capsys.readouterr().err.strip() == (
        "imm-setup-notifications: The conn_id `imm_cli_undefined` isn't defined"
    )
    assert main(["--conn-id", emulator_conn(mns_queue=None)]) == 1
    assert "No MNS queue given" in capsys.readouterr().err


def test_names_other_than_the_connections_say_which_extras_to_set(
    emulator: ImmEmulator, emulator_conn: MakeConn, capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = emulator_conn()
    assert main(["--conn-id", conn_id, "--topic", "t1", "--queue", "q1", "--subscription", "s1"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == (
        f"Set extras mns_topic='t1' and mns_queue='q1' on connection {conn_id!r}: operators then add "
        "Notification to each request (leave it out of yours) and wait on this queue."
    )


def test_watcher_queue_is_subscribed_to_the_same_topic_with_the_oss_rule_on_the_emulator(
    emulator: ImmEmulator, emulator_conn: MakeConn, capsys: pytest.CaptureFixture[str]
) -> None:
    from mns.topic import TopicMessage

    from tests.sdk_clients import mns_account_for

    conn_id = emulator_conn()
    args = [
        "--conn-id",
        conn_id,
        "--watcher-queue",
        "imm-watch",
        "--oss-bucket",
        "docs",
        "--oss-prefix",
        "inbox/",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "created watcher queue imm-watch" in out
    assert "OSS event rule: created on the emulator" in out
    [rule] = emulator.oss_event_rules()
    assert (rule.topic, rule.bucket, rule.prefix) == ("imm-events", "docs", "inbox/")
    # One publication reaches both queues: the deferral listener's and the watcher's.
    account = mns_account_for(emulator)
    account.get_topic("imm-events").publish_message(TopicMessage("hello"))
    for name in ("airflow-imm", "imm-watch"):
        queue = account.get_queue(name)
        queue.set_encoding(False)
        assert "hello" in queue.receive_message(1).message_body
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["watcher_created"] == []


def test_the_deferral_queue_is_refused_as_a_watcher_queue(
    emulator: ImmEmulator, emulator_conn: MakeConn, capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = emulator_conn()
    assert main(["--conn-id", conn_id, "--watcher-queue", "airflow-imm"]) == 1
    err = capsys.readouterr().err
    assert "take each other's messages" in err and "--watcher-queue imm-watch" in err


def test_on_the_cloud_the_oss_rule_is_described_not_created(
    make_conn: MakeConn, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_imm.cli import _emulator_rule

    rule = {
        "name": "r",
        "topic": "t",
        "bucket": "docs",
        "prefix": "inbox/",
        "suffix": "",
        "events": ["ObjectCreated:*"],
    }
    text = _emulator_rule("https://1.mns.cn-hangzhou.aliyuncs.com", rule)
    assert text.startswith("configure in OSS") and "oss://docs/inbox/*" in text and "'t'" in text
