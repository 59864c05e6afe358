"""ListTasks through the unchanged IMM SDK: filters, sorting and NextToken paging."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator

PROJECT = DEFAULT_PROJECT
PHOTO = "oss://in-bucket/photo.jpg"


def moderation(client: Client, *, tags: dict[str, str] | None = None, user_data: str | None = None) -> str:
    request = models.CreateImageModerationTaskRequest(
        project_name=PROJECT, source_uri=PHOTO, tags=tags, user_data=user_data
    )
    return client.create_image_moderation_task(request).body.task_id


def clustering(client: Client) -> str:
    request = models.CreateFigureClusteringTaskRequest(project_name=PROJECT, dataset_name="faces")
    return client.create_figure_clustering_task(request).body.task_id


def listed(client: Client, **fields: object) -> list[str]:
    body = client.list_tasks(models.ListTasksRequest(project_name=PROJECT, **fields)).body
    return [t.task_id for t in body.tasks]


def settle(emulator: ImmEmulator, count: int) -> None:
    deadline = time.monotonic() + 5
    while sum(t["Status"] != "Running" for t in emulator.imm.tasks()) < count:
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.fixture
def client(emulator: ImmEmulator, imm_client: Client) -> Client:
    emulator.oss.put("in-bucket", "photo.jpg", b"jpeg")
    return imm_client


def test_filters_by_task_type_status_and_tags(emulator: ImmEmulator, client: Client) -> None:
    failing = json.dumps({"imm-emulator": {"duration": 0, "status": "Failed", "code": "Bad"}})
    ok_prod = moderation(client, tags={"env": "prod", "team": "a"})
    failed_prod = moderation(client, tags={"env": "prod"}, user_data=failing)
    ok_dev = moderation(client, tags={"env": "dev"})
    cluster = clustering(client)
    settle(emulator, 4)

    assert sorted(listed(client)) == sorted([ok_prod, failed_prod, ok_dev, cluster])
    assert sorted(listed(client, task_types=["ImageModeration"])) == sorted([ok_prod, failed_prod, ok_dev])
    assert listed(client, task_types=["FaceClustering"]) == [cluster]
    assert listed(client, status="Failed") == [failed_prod]
    assert sorted(listed(client, tag_selector="env=prod")) == sorted([ok_prod, failed_prod])
    assert listed(client, tag_selector="env=prod,team=a") == [ok_prod]
    assert listed(client, tag_selector="team") == [ok_prod]
    assert listed(client, tag_selector=json.dumps({"env": "dev"})) == [ok_dev]


def test_filters_by_start_and_end_time_ranges(emulator: ImmEmulator, client: Client) -> None:
    first = moderation(client)
    settle(emulator, 1)
    time.sleep(0.05)
    middle = emulator.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.05)
    running = moderation(client, user_data=json.dumps({"imm-emulator": {"duration": None}}))
    late = {"Start": middle}

    assert listed(client, start_time_range=models.TimeRange(start=middle)) == [running]
    assert listed(client, start_time_range=models.TimeRange(end=middle)) == [first]
    assert listed(client, end_time_range=models.TimeRange(end=middle)) == [first]
    assert listed(client, end_time_range=models.TimeRange().from_map(late)) == []
    assert listed(client, status="Running") == [running]


def test_pages_with_next_token_cover_every_task_once(emulator: ImmEmulator, client: Client) -> None:
    created = {moderation(client) for _ in range(7)}
    seen: list[str] = []
    token = None

    for _ in range(10):
        body = client.list_tasks(
            models.ListTasksRequest(project_name=PROJECT, max_results=3, next_token=token)
        ).body
        assert body.max_results == 3 and len(body.tasks) <= 3
        seen.extend(t.task_id for t in body.tasks)
        token = body.next_token
        if not token:
            break

    assert sorted(seen) == sorted(created) and len(seen) == 7
    assert seen == sorted(seen)


def test_sorts_by_start_time_in_either_order(emulator: ImmEmulator, client: Client) -> None:
    created = []
    for _ in range(3):
        created.append(moderation(client))
        time.sleep(0.01)

    assert listed(client, sort="StartTime", order="asc") == created
    assert listed(client, sort="StartTime", order="desc") == created[::-1]
    assert listed(client, sort="StartTime", order="desc", max_results=2) == created[:0:-1]


def test_tasks_carry_their_fields_and_optionally_the_request(emulator: ImmEmulator, client: Client) -> None:
    moderation(client, tags={"k": "v"}, user_data="hello")
    settle(emulator, 1)

    plain = client.list_tasks(models.ListTasksRequest(project_name=PROJECT)).body
    detailed = client.list_tasks(models.ListTasksRequest(project_name=PROJECT, request_definition=True)).body

    task = plain.tasks[0]
    assert (task.task_type, task.status, task.tags, task.user_data, task.progress) == (
        "ImageModeration",
        "Succeeded",
        {"k": "v"},
        "hello",
        100,
    )
    assert (
        task.start_time.endswith("Z") and task.end_time.endswith("Z") and task.task_request_definition is None
    )
    assert json.loads(detailed.tasks[0].task_request_definition)["SourceURI"] == PHOTO
    assert plain.project_name == PROJECT and plain.next_token == ""


@pytest.mark.parametrize(
    "fields",
    [
        {"max_results": 0},
        {"max_results": 101},
        {"next_token": "not-a-token"},
        {"status": "Done"},
        {"sort": "Size"},
        {"order": "sideways"},
    ],
)
def test_invalid_arguments_are_refused(client: Client, fields: dict[str, object]) -> None:
    with pytest.raises(ClientException) as err:
        listed(client, **fields)

    assert (err.value.status_code, err.value.code) == (400, "InvalidArgument")


def test_an_unknown_project_is_not_found(client: Client) -> None:
    with pytest.raises(ClientException) as err:
        client.list_tasks(models.ListTasksRequest(project_name="no-such-project"))

    assert (err.value.status_code, err.value.code) == (400, "ResourceNotFound")
