"""Flow control as the official SDKs and the hooks see it: a limit of N/s lets N calls through and
answers the rest as IMM (HTTP 400 ``Throttling.User``) and MNS (``QpsLimitExceeded``) do."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import QueueMeta

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.hooks.errors import ImmApiError, MnsApiError
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.hooks.mns import MnsHook
from airflow_provider_imm.hooks.retry import RetryPolicy
from tests.emulated_imm import MakeConn

GET_PROJECT = models.GetProjectRequest(project_name=DEFAULT_PROJECT)


class Clock:
    """The buckets' clock, frozen unless advanced: how many calls pass does not depend on the machine."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(emulator: ImmEmulator) -> Clock:
    clock = Clock()
    emulator.flow_control("imm").clock = clock
    emulator.flow_control("mns").clock = clock
    return clock


def _outcomes(call: Any, n: int) -> list[Exception | None]:
    outcomes: list[Exception | None] = []
    for _ in range(n):
        try:
            call()
            outcomes.append(None)
        except Exception as err:
            outcomes.append(err)
    return outcomes


def test_imm_limit_lets_n_through_and_throttles_the_rest_without_retry_after(
    emulator: ImmEmulator, imm_client: Client, clock: Clock
) -> None:
    emulator.set_rates("imm", {"GetProject": 3})

    outcomes = _outcomes(lambda: imm_client.get_project(GET_PROJECT), 5)

    assert outcomes[:3] == [None, None, None]
    for err in outcomes[3:]:
        assert isinstance(err, ClientException) and not isinstance(err, ThrottlingException)
        assert (err.status_code, err.code) == (400, "Throttling.User")
        assert "Request was denied due to user flow control." in err.message
    assert emulator.counters.get("imm", "GetProject") == 5
    assert emulator.counters.get("imm-throttled", "GetProject") == 2
    # Other actions have no limit; a second later the bucket is full again.
    imm_client.list_projects(models.ListProjectsRequest())
    clock.now += 1.0
    assert _outcomes(lambda: imm_client.get_project(GET_PROJECT), 4)[:3] == [None, None, None]


def test_imm_retry_after_is_sent_only_when_asked(
    emulator: ImmEmulator, imm_client: Client, clock: Clock
) -> None:
    emulator.set_rates("imm", {"GetProject": 4}, retry_after=True)
    _outcomes(lambda: imm_client.get_project(GET_PROJECT), 4)

    with pytest.raises(ThrottlingException) as err:
        imm_client.get_project(GET_PROJECT)

    assert (err.value.code, err.value.retry_after) == ("Throttling.User", 250)  # 1/4 s to the next token


def test_the_hook_sees_throttling_and_retries_until_served(
    emulator: ImmEmulator, emulator_conn: MakeConn, clock: Clock
) -> None:
    hook = ImmHook(
        emulator_conn(),
        # No jitter: 10 waits of full jitter can add up to less than the second the bucket needs.
        retry_policy=RetryPolicy(max_attempts=10, max_seconds=60, base_delay=0.1, max_delay=0.4, jitter=0.0),
        sleep=clock.sleep,  # the bucket refills while the hook waits, and only then
    )
    emulator.set_rates("imm", {"ListTasks": 1})
    assert list(hook.list_tasks()) == []

    assert list(hook.list_tasks()) == []

    throttled = emulator.counters.get("imm-throttled", "ListTasks")
    assert throttled >= 1 and clock.now >= 1.0
    assert emulator.counters.get("imm", "ListTasks") == 2 + throttled


def test_the_hook_raises_its_throttling_error_when_retries_run_out(
    emulator: ImmEmulator, emulator_conn: MakeConn, clock: Clock
) -> None:
    hook = ImmHook(emulator_conn(), retry_policy=RetryPolicy(max_attempts=3), sleep=lambda _: None)
    emulator.set_rates("imm", {"GetTask": 1})
    with pytest.raises(ImmApiError):
        hook.get_task(None, "OfficeConversion", "OfficeConversion-unknown")  # the one token

    with pytest.raises(ImmApiError) as err:
        hook.get_task(None, "OfficeConversion", "OfficeConversion-unknown")

    assert (err.value.kind, err.value.code, err.value.status_code, err.value.attempts) == (
        "throttled",
        "Throttling.User",
        400,
        3,
    )


def test_mns_limit_answers_qps_limit_exceeded(
    emulator: ImmEmulator, mns_account: Account, clock: Clock
) -> None:
    emulator.set_rates("mns", {"CreateQueue": 2})
    queues = [mns_account.get_queue(f"q{i}") for i in range(3)]

    queues[0].create(QueueMeta())
    queues[1].create(QueueMeta())
    with pytest.raises(MNSServerException) as err:
        queues[2].create(QueueMeta())

    assert err.value.type == "QpsLimitExceeded"
    assert err.value.message == "The qps limit of the queue is exceeded."
    assert emulator.counters.get("mns-throttled", "CreateQueue") == 1
    clock.now += 0.5
    queues[2].create(QueueMeta())


def test_the_mns_hook_reports_the_code_for_its_caller_to_back_off(
    emulator: ImmEmulator, emulator_conn: MakeConn, clock: Clock
) -> None:
    hook = MnsHook(emulator_conn())
    hook.ensure_notification_channel()
    emulator.set_rates("mns", {"ReceiveMessage": 1, "BatchReceiveMessage": 1})
    hook.receive("airflow-imm", wait_seconds=0)

    with pytest.raises(MnsApiError) as err:
        hook.receive("airflow-imm", wait_seconds=0)

    assert (err.value.code, err.value.network) == ("QpsLimitExceeded", False)


def _admin(emulator: ImmEmulator, method: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{emulator.url}/_emulator/flow-control", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_limits_set_over_the_admin_api(emulator: ImmEmulator, imm_client: Client, clock: Clock) -> None:
    status, limits = _admin(
        emulator, "POST", {"service": "imm", "rates": {"GetProject": 1}, "retry_after": True}
    )
    assert status == 200
    assert limits["imm"] == {"rates": {"GetProject": {"per_second": 1, "burst": None}}, "retry_after": True}
    assert limits["mns"] == {"rates": {}, "retry_after": False}
    imm_client.get_project(GET_PROJECT)
    with pytest.raises(ThrottlingException):
        imm_client.get_project(GET_PROJECT)

    assert _admin(emulator, "DELETE")[1]["imm"] == {"rates": {}, "retry_after": False}
    imm_client.get_project(GET_PROJECT)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"service": "oss", "rates": {}}, "service must be 'imm' or 'mns'"),
        ({"rates": {"GetProjct": 1}}, "unknown action 'GetProjct'"),
        ({"rates": {"GetProject": 0}}, "per_second must be a number"),
        ({"service": "mns", "retry_after": True}, "retry_after applies to IMM only"),
        ({"rates": {}, "retry_after": "yes"}, "retry_after must be true or false"),
        ({"rate": {"GetProject": 1}}, "unknown field 'rate'"),
    ],
)
def test_bad_admin_requests_are_refused_by_name(emulator: ImmEmulator, body: Any, words: str) -> None:
    status, answer = _admin(emulator, "POST", body)

    assert status == 400 and words in answer["error"]
    assert _admin(emulator, "GET")[1]["imm"]["rates"] == {}


def test_the_constructor_sets_limits() -> None:
    with ImmEmulator(imm_rates={"GetProject": 5}, mns_rates={"ListQueue": 2}, retry_after=True) as emulator:
        assert emulator.flow_control("imm").rates() == {"GetProject": {"per_second": 5, "burst": None}}
        assert emulator.flow_control("mns").rates() == {"ListQueue": {"per_second": 2, "burst": None}}
        assert emulator.flow_control("imm").retry_after is True


def test_the_command_takes_rates() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_imm.emulator",
            "--rate",
            "imm:GetProject=0.01",
            "--rate",
            "mns:ListQueue=0.01",
            "--retry-after",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = json.loads(process.stdout.readline())
        with urllib.request.urlopen(f"{address['url']}/_emulator/flow-control", timeout=10) as response:
            limits = json.loads(response.read())
    finally:
        process.terminate()
        process.wait(timeout=20)

    assert limits["imm"]["rates"] == {"GetProject": {"per_second": 0.01, "burst": None}}
    assert limits["imm"]["retry_after"] is True
    assert limits["mns"]["rates"] == {"ListQueue": {"per_second": 0.01, "burst": None}}


def test_the_command_refuses_a_bad_rate() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_imm.emulator", "--rate", "imm:GetProject"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "--rate 'imm:GetProject' is not SERVICE:ACTION=PER_SECOND" in result.stderr
