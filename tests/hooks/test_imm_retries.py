"""Retries against injected faults: throttling with retry-after, 5xx, refused connections, final errors."""

from __future__ import annotations

import pickle
import socket
import time

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.errors import ImmApiError
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.hooks.retry import RetryPolicy
from tests.emulated_imm import MakeConn

FAST = RetryPolicy(max_attempts=5, max_seconds=30, base_delay=0.01, max_delay=0.05)


class Sleeps(list[float]):
    """Records requested waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class AsyncSleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _task(hook: ImmHook, emulator: ImmEmulator) -> str:
    emulator.oss.put("bucket", "in/a.docx", b"document")
    request = {
        "SourceURI": "oss://bucket/in/a.docx",
        "TargetType": "pdf",
        "TargetURI": "oss://bucket/o/{barename}",
    }
    return hook.create_task("CreateOfficeConversionTask", request)["TaskId"]


def test_throttled_call_waits_at_least_retry_after_then_succeeds(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    sleeps = Sleeps()
    hook = ImmHook(emulator_conn(), retry_policy=FAST, sleep=sleeps)
    task_id = _task(hook, emulator)
    emulator.counters.reset()
    emulator.faults.throttle_imm(3, retry_after=0.4)

    task = hook.get_task(None, "OfficeConversion", task_id)

    assert task["TaskId"] == task_id
    assert emulator.counters.get("imm", "GetTask") == 4
    assert len(sleeps) == 3
    assert all(s >= 0.4 for s in sleeps)  # the backoff alone would wait at most 0.05 s


def test_real_waits_honour_retry_after(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = ImmHook(emulator_conn(), retry_policy=FAST)
    task_id = _task(hook, emulator)
    emulator.faults.throttle_imm(2, retry_after=0.15)
    started = time.monotonic()
    hook.get_task(None, "OfficeConversion", task_id)
    assert time.monotonic() - started >= 0.3


async def test_async_call_shares_the_policy(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    sleeps = AsyncSleeps()
    conn_id = emulator_conn()
    task_id = _task(ImmHook(conn_id), emulator)
    emulator.counters.reset()
    emulator.faults.throttle_imm(3, retry_after=0.25)

    task = await ImmHook(conn_id, retry_policy=FAST, async_sleep=sleeps).aget_task(
        None, "OfficeConversion", task_id
    )

    assert task["TaskId"] == task_id
    assert emulator.counters.get("imm", "GetTask") == 4
    assert len(sleeps) == 3 and min(sleeps) >= 0.25


def test_throttled_create_is_retried(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    sleeps = Sleeps()
    hook = ImmHook(emulator_conn(), retry_policy=FAST, sleep=sleeps)
    emulator.faults.throttle_imm(2)  # no retry-after: plain exponential backoff
    assert _task(hook, emulator)
    assert emulator.counters.get("imm", "CreateOfficeConversionTask") == 3
    assert len(sleeps) == 2 and all(0 <= s <= 0.05 for s in sleeps)  # full jitter: anywhere in the step


def test_server_errors_are_retried_for_reads_but_not_for_creates(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    hook = ImmHook(emulator_conn(), retry_policy=FAST, sleep=Sleeps())
    task_id = _task(hook, emulator)
    emulator.counters.reset()

    emulator.faults.fail_imm(2)
    assert hook.get_task(None, "OfficeConversion", task_id)["TaskId"] == task_id
    assert emulator.counters.get("imm", "GetTask") == 3

    emulator.faults.fail_imm(1)
    with pytest.raises(ImmApiError) as info:
        _task(hook, emulator)
    assert (info.value.code, info.value.status_code, info.value.kind) == ("ServiceUnavailable", 503, "server")
    assert emulator.counters.get("imm", "CreateOfficeConversionTask") == 1


def test_final_error_surfaces_at_once_with_its_details(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    sleeps = Sleeps()
    hook = ImmHook(emulator_conn(), retry_policy=FAST, sleep=sleeps)
    with pytest.raises(ImmApiError) as info:
        hook.get_task(None, "OfficeConversion", "OfficeConversion-unknown")
    error = info.value
    assert (error.code, error.status_code, error.action, error.attempts) == (
        "ResourceNotFound",
        400,
        "GetTask",
        1,
    )
    assert error.request_id and error.request_id in str(error)
    assert str(error).startswith("IMM GetTask failed: ResourceNotFound: ")
    assert emulator.counters.get("imm", "GetTask") == 1
    assert sleeps == []
    copy = pickle.loads(pickle.dumps(error))  # errors cross process boundaries (trigger events, XCom)
    assert (copy.code, copy.request_id, str(copy)) == (error.code, error.request_id, str(error))


def test_attempts_are_bounded(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=3, max_seconds=30, base_delay=0.01, max_delay=0.05)
    hook = ImmHook(emulator_conn(), retry_policy=policy, sleep=sleeps)
    emulator.faults.throttle_imm(5, retry_after=0.1)
    with pytest.raises(ImmApiError) as info:
        hook.get_task(None, "OfficeConversion", "x")
    assert (info.value.code, info.value.attempts, info.value.retry_after) == ("Throttling.User", 3, 0.1)
    assert emulator.counters.get("imm", "GetTask") == 3
    assert len(sleeps) == 2


def test_total_time_is_bounded(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    sleeps = Sleeps()
    hook = ImmHook(emulator_conn(), retry_policy=RetryPolicy(max_attempts=10, max_seconds=1.0), sleep=sleeps)
    emulator.faults.throttle_imm(3, retry_after=5.0)  # waiting would exceed the 1 s budget
    with pytest.raises(ImmApiError) as info:
        hook.get_task(None, "OfficeConversion", "x")
    assert info.value.code == "Throttling.User"
    assert sleeps == []
    assert emulator.counters.get("imm", "GetTask") == 1


def test_retry_settings_come_from_connection_extras(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    sleeps = Sleeps()
    hook = ImmHook(
        emulator_conn(retry_max_attempts=2, retry_base_delay=0.01, retry_max_delay=0.02), sleep=sleeps
    )
    emulator.faults.throttle_imm(3)
    with pytest.raises(ImmApiError):
        hook.get_task(None, "OfficeConversion", "x")
    assert emulator.counters.get("imm", "GetTask") == 2
    assert len(sleeps) == 1 and sleeps[0] <= 0.02


def test_refused_connection_is_retried_even_for_creates(make_conn: MakeConn) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    conn_id = make_conn(
        login="LTAIkey", password="secret", endpoint=f"127.0.0.1:{port}", protocol="http", project="p"
    )
    hook = ImmHook(conn_id, retry_policy=RetryPolicy(max_attempts=3, base_delay=0.01), sleep=sleeps)
    with pytest.raises(ImmApiError) as info:
        hook.create_task("CreateArchiveFileInspectionTask", {"SourceURI": "oss://bucket/a.zip"})
    error = info.value
    assert (error.code, error.kind, error.status_code, error.attempts) == (
        "EndpointUnreachable",
        "connect",
        None,
        3,
    )
    assert error.message == f"cannot connect to http://127.0.0.1:{port} (Connection refused)"
    assert len(sleeps) == 2


def test_policy_decisions() -> None:
    policy = RetryPolicy(max_attempts=3, max_seconds=10, base_delay=1, max_delay=4, jitter=0)

    def error(kind: str, retry_after: float | None = None) -> ImmApiError:
        return ImmApiError(action="A", code="C", message="m", kind=kind, retry_after=retry_after)  # type: ignore[arg-type]

    assert policy.next_delay(error("throttled"), attempts=1, elapsed=0, rand=0.5, idempotent=False) == 1
    assert policy.next_delay(error("throttled"), attempts=2, elapsed=0, rand=0.5, idempotent=False) == 2
    assert policy.next_delay(error("throttled"), attempts=3, elapsed=0, rand=0.5, idempotent=True) is None
    assert policy.next_delay(error("throttled", 3.0), attempts=1, elapsed=0, rand=0, idempotent=True) == 3.0
    assert policy.next_delay(error("throttled", 3.0), attempts=1, elapsed=8, rand=0, idempotent=True) is None
    assert policy.next_delay(error("server"), attempts=1, elapsed=0, rand=0, idempotent=True) == 1
    assert policy.next_delay(error("server"), attempts=1, elapsed=0, rand=0, idempotent=False) is None
    assert policy.next_delay(error("network"), attempts=1, elapsed=0, rand=0, idempotent=False) is None
    assert policy.next_delay(error("connect"), attempts=1, elapsed=0, rand=0, idempotent=False) == 1
    assert policy.next_delay(error("client"), attempts=1, elapsed=0, rand=0, idempotent=True) is None
