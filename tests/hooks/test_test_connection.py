"""``ImmHook.test_connection``: one cheap authenticated read, one line of outcome, no retries."""

from __future__ import annotations

import socket

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.imm import ImmHook
from tests.hooks.conftest import MakeConn


def _outcome(conn_id: str) -> tuple[bool, str]:
    ok, message = ImmHook(conn_id).test_connection()
    assert "\n" not in message
    return ok, message


def test_success_reads_the_project(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    assert _outcome(emulator_conn()) == (
        True,
        f"Connected to IMM at http://{emulator.endpoint}: project 'test-project' is reachable.",
    )
    assert emulator.counters.get("imm", "GetProject") == 1


def test_success_without_a_project_lists_projects(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    assert _outcome(emulator_conn(project=None)) == (
        True,
        f"Connected to IMM at http://{emulator.endpoint}: credentials accepted (no default project set).",
    )
    assert emulator.counters.get("imm", "ListProjects") == 1


def test_wrong_access_key_id(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    assert _outcome(emulator_conn(login="LTAIunknownKey")) == (
        False,
        "InvalidAccessKeyId.NotFound: Specified access key is not found.",
    )


def test_wrong_secret(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    assert _outcome(emulator_conn(password="wrong-secret-value")) == (
        False,
        "SignatureDoesNotMatch: Specified signature does not match our calculation.",
    )


def test_unreachable_endpoint_is_not_retried(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _outcome(emulator_conn(endpoint=f"127.0.0.1:{port}")) == (
        False,
        f"EndpointUnreachable: cannot connect to http://127.0.0.1:{port} (Connection refused)",
    )


def test_missing_project(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    assert _outcome(emulator_conn(project="no-such-project")) == (
        False,
        "ResourceNotFound: The specified resource project 'no-such-project' is not found.",
    )
    assert emulator.counters.get("imm", "GetProject") == 1


def test_role_refused_by_sts(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    conn_id = emulator_conn(
        password="wrong-secret-value",
        role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
        sts_endpoint=emulator.url,
    )
    assert _outcome(conn_id) == (
        False,
        "SignatureDoesNotMatch: STS refused to issue ram_role_arn credentials: "
        "Specified signature does not match our calculation.",
    )


def test_invalid_extras_are_reported_without_a_call(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    ok, message = _outcome(emulator_conn(regoin="cn-hangzhou"))
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
