"""Finding the IMM task an earlier try submitted: by the state store, by Tags, by UserData.

The hook talks to the emulator through the unchanged SDK; the task state store is a dict standing in
for Airflow's accessor (``get``/``set``), as the Task SDK hands it to the operator.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_imm.catalog import SECRET_FIELDS, get_operation
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.operators.task_identity import (
    MAX_TAG_VALUE,
    TaskInstanceIdentity,
    TaskLedger,
    find_earlier_task,
    first_try_of_cycle,
    mark_request,
    newest_reusable,
    request_fingerprint,
)
from tests.emulated_imm import Imm

PROJECT = "test-project"
IDENTITY = TaskInstanceIdentity("nightly", "convert", "scheduled__2024-03-09T00:00:00+00:00", -1)
OFFICE = get_operation("CreateOfficeConversionTask")
COMPRESSION = get_operation("CreateFileCompressionTask")
DOC = "oss://docs/in/report.docx"
RUNNING = json.dumps({"imm-emulator": {"duration": None}})
log = logging.getLogger(__name__)


class Store:
    """Airflow's task state store as the operator uses it."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def submit(hook: ImmHook, operation: Any, request: dict[str, Any], identity: TaskInstanceIdentity) -> str:
    fingerprint = request_fingerprint(operation.action, PROJECT, request)
    marked, _how = mark_request(operation, request, identity, fingerprint)
    return str(hook.create_task(operation.action, marked, PROJECT)["TaskId"])


def find(
    hook: ImmHook,
    operation: Any,
    request: dict[str, Any],
    ledger: TaskLedger,
    identity: TaskInstanceIdentity = IDENTITY,
) -> Any:
    fingerprint = request_fingerprint(operation.action, PROJECT, request)
    _marked, how = mark_request(operation, request, identity, fingerprint)
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    return find_earlier_task(
        hook, operation, PROJECT, identity, fingerprint, ledger, marked=how, since=since, log=log
    )


def office(**extra: Any) -> dict[str, Any]:
    return {"SourceURI": DOC, "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf", **extra}


@pytest.fixture
def hook(imm: Imm) -> ImmHook:
    imm.put(DOC)
    return ImmHook(imm.conn_id)


def test_identity_is_stable_per_task_instance_and_distinct_between_instances() -> None:
    assert IDENTITY.key == TaskInstanceIdentity(*vars(IDENTITY).values()).key
    mapped = [TaskInstanceIdentity("nightly", "convert", IDENTITY.run_id, i).key for i in range(3)]
    assert len({IDENTITY.key, *mapped}) == 4
    long_run = TaskInstanceIdentity("d" * 300, "t", "r" * 300)
    tags = long_run.tags("fp")
    assert all(len(value) <= MAX_TAG_VALUE for value in tags.values())
    assert tags["airflow-dag"] != TaskInstanceIdentity("d" * 299 + "x", "t", "r").tags("fp")["airflow-dag"]


def test_marking_keeps_the_users_tags_and_user_data() -> None:
    marked, how = mark_request(OFFICE, office(Tags={"team": "media"}), IDENTITY, "fp")
    assert how == "tags"
    assert marked["Tags"]["team"] == "media" and marked["Tags"]["airflow-ti"] == IDENTITY.key
    request = {"Sources": [{"URI": DOC}], "TargetURI": "oss://out/a.zip", "UserData": '{"batch": 7}'}
    marked, how = mark_request(COMPRESSION, request, IDENTITY, "fp")
    assert how == "user_data"
    assert json.loads(marked["UserData"]) == {"batch": 7, "airflow-ti": IDENTITY.key, "airflow-request": "fp"}
    for user_data in ("plain text", "[1, 2]", json.dumps({"pad": "x" * 2030})):
        unchanged, how = mark_request(COMPRESSION, {**request, "UserData": user_data}, IDENTITY, "fp")
        assert how == "none" and unchanged["UserData"] == user_data
    watermark = {"SourceURI": DOC, "TargetURI": "oss://out/w.png"}
    assert mark_request(get_operation("DecodeBlindWatermark"), watermark, IDENTITY, "fp") == (
        watermark,
        "none",
    )


def test_running_then_succeeded_task_is_found_by_tags(imm: Imm, hook: ImmHook) -> None:
    request = office(UserData=RUNNING)
    task_id = submit(hook, OFFICE, request, IDENTITY)
    ledger = TaskLedger({}, log)
    found = find(hook, OFFICE, request, ledger)
    assert (found.task_id, found.status, found.found_by) == (task_id, "Running", "tags")
    imm.emulator.imm.finish_task(task_id)
    assert find(hook, OFFICE, request, ledger).status == "Succeeded"


def test_a_failed_task_another_instance_or_another_request_is_not_reused(imm: Imm, hook: ImmHook) -> None:
    request = office(UserData=RUNNING)
    task_id = submit(hook, OFFICE, request, IDENTITY)
    ledger = TaskLedger({}, log)
    other = TaskInstanceIdentity(IDENTITY.dag_id, IDENTITY.task_id, IDENTITY.run_id, 0)
    assert find(hook, OFFICE, request, ledger, other) is None
    assert find(hook, OFFICE, office(UserData=RUNNING, TargetType="png"), ledger) is None
    imm.emulator.imm.finish_task(task_id, status="Failed", code="InvalidDocument")
    assert find(hook, OFFICE, request, ledger) is None


def test_without_tags_the_task_is_found_by_user_data(imm: Imm, hook: ImmHook) -> None:
    request = {"Sources": [{"URI": DOC}], "TargetURI": "oss://out/bundle.zip", "UserData": RUNNING}
    task_id = submit(hook, COMPRESSION, request, IDENTITY)
    submit(hook, COMPRESSION, request, TaskInstanceIdentity("other", "t", "r"))
    found = find(hook, COMPRESSION, request, TaskLedger({}, log))
    assert (found.task_id, found.found_by) == (task_id, "user data")


def test_the_state_store_is_asked_first_and_a_reported_success_is_not_reused(imm: Imm, hook: ImmHook) -> None:
    request = office()
    task_id = submit(hook, OFFICE, request, IDENTITY)
    imm.emulator.imm.finish_task(task_id)
    store = Store()
    ledger = TaskLedger({"task_state_store": store}, log)
    ledger.remember(task_id, OFFICE.task_type, PROJECT, request_fingerprint(OFFICE.action, PROJECT, request))
    imm.emulator.counters.reset()
    found = find(hook, OFFICE, request, ledger)
    assert (found.task_id, found.status, found.found_by) == (task_id, "Succeeded", "state store")
    assert imm.emulator.counters.get("imm", "ListTasks") == 0
    # The Airflow task succeeded with it, then was cleared to run again: submit anew.
    ledger.mark_reported(task_id)
    assert find(hook, OFFICE, request, ledger) is None
    assert store.values["imm_tasks_reported"] == [task_id]


def test_a_task_imm_no_longer_knows_is_not_reused(hook: ImmHook) -> None:
    ledger = TaskLedger({"task_state_store": Store()}, log)
    request = office()
    fingerprint = request_fingerprint(OFFICE.action, PROJECT, request)
    ledger.remember(
        "OfficeConversion-00000000-0000-0000-0000-000000000000", "OfficeConversion", PROJECT, fingerprint
    )
    assert find(hook, OFFICE, request, ledger) is None


def test_the_newest_task_is_chosen_by_time_not_by_the_text_of_its_start() -> None:
    """IMM's RFC3339Nano drops trailing zeros, so within one second the strings sort wrongly."""
    whole_second = {"TaskId": "a", "Status": "Running", "StartTime": "2024-03-09T03:00:05Z"}
    later = {"TaskId": "b", "Status": "Running", "StartTime": "2024-03-09T03:00:05.3Z"}
    assert newest_reusable([whole_second, later]) == later
    tenth = {"TaskId": "c", "Status": "Succeeded", "StartTime": "2024-03-09T03:00:05.1Z"}
    twelve_hundredths = {"TaskId": "d", "Status": "Succeeded", "StartTime": "2024-03-09T03:00:05.12Z"}
    assert newest_reusable([twelve_hundredths, tenth]) == twelve_hundredths
    nanoseconds = {"TaskId": "e", "Status": "Succeeded", "StartTime": "2024-03-09T03:00:05.120000001Z"}
    assert newest_reusable([tenth, nanoseconds, twelve_hundredths])["TaskId"] in ("d", "e")
    # A running task wins over a newer succeeded one; a failed one is never chosen.
    failed = {"TaskId": "f", "Status": "Failed", "StartTime": "2024-03-09T04:00:00Z"}
    assert newest_reusable([tenth, whole_second, failed]) == whole_second
    assert newest_reusable([failed]) is None


def test_the_request_hash_leaves_secret_fields_out() -> None:
    for secret in SECRET_FIELDS:
        with_one = request_fingerprint(OFFICE.action, PROJECT, office(**{secret: "correct horse"}))
        with_other = request_fingerprint(OFFICE.action, PROJECT, office(**{secret: "battery staple"}))
        assert with_one == with_other == request_fingerprint(OFFICE.action, PROJECT, office())
    nested = {"Sources": [{"URI": DOC, "Password": "correct horse"}], "TargetURI": "oss://out/a.zip"}
    plain = {"Sources": [{"URI": DOC}], "TargetURI": "oss://out/a.zip"}
    assert request_fingerprint(COMPRESSION.action, PROJECT, nested) == request_fingerprint(
        COMPRESSION.action, PROJECT, plain
    )
    # Everything else still counts.
    assert request_fingerprint(OFFICE.action, PROJECT, office(TargetType="png")) != request_fingerprint(
        OFFICE.action, PROJECT, office()
    )


@pytest.mark.parametrize(
    ("try_number", "max_tries", "retries", "first"),
    [
        (1, 2, 2, 1),  # never cleared: max_tries == retries
        (3, 2, 2, 1),  # the last retry of the first cycle
        (4, 5, 2, 4),  # cleared after try 3: max_tries = 3 + 2
        (6, 5, 2, 4),  # the second cycle's last retry
        (2, 1, 0, 2),  # cleared after one try, no retries
        (2, 5, 1, 2),  # retries lowered since the clear: never later than this try
        (1, None, 3, 1),  # no max_tries known
    ],
)
def test_the_first_try_of_a_cycle_follows_airflows_formula(
    try_number: int, max_tries: int | None, retries: int, first: int
) -> None:
    assert first_try_of_cycle(try_number, max_tries, retries) == first
