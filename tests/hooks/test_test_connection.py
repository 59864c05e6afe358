"""``ImmHook.test_connection``: one cheap authenticated read, one line of outcome, no retries."""

from __future__ import annotations

import socket

from mns.account import Account
from mns.queue import QueueMeta

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.hooks.mns import MnsHook
from tests.emulated_imm import MakeConn


def _imm_only(emulator_conn: MakeConn, **extras: object) -> str:
    """A connection without notifications (no MNS queue), so only IMM is checked."""
    return emulator_conn(mns_queue=None, mns_topic=None, mns_subscription=None, **extras)


def _outcome(conn_id: str) -> tuple[bool, str]:
    ok, message = ImmHook(conn_id).test_connection()
    assert "\n" not in message
    return ok, message


def test_success_reads_the_project(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    assert _outcome(_imm_only(emulator_conn)) == (
        True,
        f"Connected to IMM at http://{emulator.endpoint}: project 'test-project' is reachable.",
    )
    assert emulator.counters.get("imm", "GetProject") == 1


def test_success_without_a_project_lists_projects(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    assert _outcome(_imm_only(emulator_conn, project=None)) == (
        True,
        f"Connected to IMM at http://{emulator.endpoint}: credentials accepted (no default project set).",
    )
    assert emulator.counters.get("imm", "ListProjects") == 1


def test_wrong_access_key_id(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    conn_id = _imm_only(emulator_conn, login="LTAIunknownKey")
    assert _outcome(conn_id) == (
        False,
        "InvalidAccessKeyId.NotFound: Specified access key is not found. "
        f"Check the login field (AccessKey ID) of connection {conn_id!r}.",
    )


def test_wrong_secret(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    conn_id = _imm_only(emulator_conn, password="wrong-secret-value")
    assert _outcome(conn_id) == (
        False,
        "SignatureDoesNotMatch: Specified signature does not match our calculation. "
        f"Check the password field (AccessKey secret) of connection {conn_id!r}.",
    )


def test_wrong_secret_in_the_extras_names_the_extra(emulator: ImmEmulator, make_conn: MakeConn) -> None:
    conn_id = make_conn(
        endpoint=emulator.endpoint,
        protocol="http",
        region=emulator.region,
        access_key_id=emulator.access_key_id,
        access_key_secret="wrong-secret-value",
    )
    ok, message = _outcome(conn_id)
    assert not ok and message.endswith(f"Check extra 'access_key_secret' of connection {conn_id!r}.")


def test_wrong_token_names_the_extra(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    emulator.accounts.add_sts("STS.someKey", "sts-secret-value", "CAIStheRightToken")
    conn_id = _imm_only(
        emulator_conn, login="STS.someKey", password="sts-secret-value", security_token="CAISwrong"
    )
    ok, message = _outcome(conn_id)
    assert not ok and message.startswith("InvalidSecurityToken.MismatchWithAccessKey")
    assert message.endswith(f"Check extra 'security_token' of connection {conn_id!r}.")


def test_unreachable_endpoint_is_not_retried(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _outcome(_imm_only(emulator_conn, endpoint=f"127.0.0.1:{port}")) == (
        False,
        f"EndpointUnreachable: cannot connect to http://127.0.0.1:{port} (Connection refused)",
    )


def test_missing_project(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    assert _outcome(_imm_only(emulator_conn, project="no-such-project")) == (
        False,
        "ResourceNotFound: The specified resource project 'no-such-project' is not found.",
    )
    assert emulator.counters.get("imm", "GetProject") == 1


def test_role_refused_by_sts(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    conn_id = _imm_only(
        emulator_conn,
        password="wrong-secret-value",
        role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
        sts_endpoint=emulator.url,
    )
    assert _outcome(conn_id) == (
        False,
        "SignatureDoesNotMatch: STS refused to issue ram_role_arn credentials: "
        "Specified signature does not match our calculation. "
        f"Check the password field (AccessKey secret) of connection {conn_id!r}.",
    )


def test_invalid_extras_are_reported_without_a_call(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    ok, message = _outcome(_imm_only(emulator_conn, regoin="cn-hangzhou"))
    assert not ok
    assert message.startswith("InvalidConnection: Connection 'imm_test_")
    assert "unknown extra 'regoin'. Did you mean 'region'?" in message
    assert emulator.counters.total("imm") == 0


def test_undefined_connection() -> None:
    ok, message = ImmHook("imm_nowhere_defined").test_connection()
    assert (ok, message) == (
        False,
        "AirflowNotFoundException: The conn_id `imm_nowhere_defined` isn't defined",
    )


def test_a_missing_queue_fails_the_test_and_names_the_fix(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    conn_id = emulator_conn()
    assert _outcome(conn_id) == (
        False,
        f"IMM is reachable, but MNS queue 'airflow-imm' does not exist (QueueNotExist): "
        f"run `imm-setup-notifications --conn-id {conn_id}` to create it.",
    )


def test_the_whole_notification_channel_is_checked(
    emulator: ImmEmulator, emulator_conn: MakeConn, mns_account: Account
) -> None:
    conn_id = emulator_conn()
    mns_account.get_queue("airflow-imm").create(QueueMeta())
    ok, message = _outcome(conn_id)
    assert not ok and "MNS topic 'imm-events' does not exist (TopicNotExist)" in message
    assert f"imm-setup-notifications --conn-id {conn_id}" in message

    MnsHook(conn_id).ensure_notification_channel(queue="elsewhere")  # the subscription feeds another queue
    ok, message = _outcome(conn_id)
    assert not ok
    assert "MNS subscription 'airflow-imm' of topic 'imm-events' delivers to" in message
    assert "queues/elsewhere" in message and "not to queue 'airflow-imm'" in message

    ok, message = _outcome(emulator_conn(mns_subscription="airflow-imm-2"))
    assert not ok and "MNS subscription 'airflow-imm-2' does not exist (SubscriptionNotExist)" in message


def test_a_ready_channel_passes_with_one_line(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    conn_id = emulator_conn()
    MnsHook(conn_id).ensure_notification_channel()
    MnsHook(conn_id).publish("a message already waiting")
    assert _outcome(conn_id) == (
        True,
        f"Connected to IMM at http://{emulator.endpoint}: project 'test-project' is reachable; "
        "MNS topic 'imm-events' -> subscription 'airflow-imm' -> queue 'airflow-imm' is ready.",
    )
    assert emulator.counters.get("mns", "ReceiveMessage") == 0  # checked without taking a message
    assert MnsHook(conn_id).receive(wait_seconds=0) != []


def test_the_diagnosis_is_a_hook_method_for_the_triggerer(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    conn_id = emulator_conn()
    MnsHook(conn_id).ensure_notification_channel()
    hook = MnsHook(conn_id)
    assert hook.diagnose_notification_channel() is None
    assert "does not exist" in str(MnsHook(emulator_conn(mns_queue="nope")).diagnose_notification_channel())
