"""Every Create*Task action of the catalog, run to its end through the unchanged IMM SDK (sync and async)."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException

from airflow_provider_imm.catalog import OPERATIONS, TaskOperation
from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.minimal_requests import BUNDLE, DOC, MINIMAL, PHOTO, VIDEO, put_sources
from tests.oss_objects import get_object, object_exists, put_object, zip_bytes
from tests.sdk_clients import imm_client_for

PROJECT = DEFAULT_PROJECT


@pytest.fixture
def seeded(emulator: ImmEmulator) -> ImmEmulator:
    put_sources(emulator)
    return emulator


def create(client: Client, action: str, fields: dict[str, Any]) -> models.GetTaskRequest:
    """Submit through the SDK method the catalog names; returns the GetTask request for the task."""
    op = OPERATIONS[action]
    request = getattr(models, op.request_model)().from_map({"ProjectName": PROJECT, **fields})
    body = getattr(client, op.sdk_method)(request).body
    assert body.task_id.startswith(f"{op.task_type}-") and body.event_id and body.request_id
    return models.GetTaskRequest(project_name=PROJECT, task_type=op.task_type, task_id=body.task_id)


def wait(client: Client, request: models.GetTaskRequest, timeout: float = 5.0) -> models.GetTaskResponseBody:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get_task(request).body
        if body.status != "Running":
            return body
        assert time.monotonic() < deadline, f"task {request.task_id} still running"
        time.sleep(0.02)


def test_minimal_requests_cover_the_whole_catalog() -> None:
    assert set(MINIMAL) == set(OPERATIONS)


@pytest.mark.parametrize("action", sorted(OPERATIONS))
def test_every_action_succeeds_through_the_sync_client(
    seeded: ImmEmulator, imm_client: Client, action: str
) -> None:
    fields, outputs = MINIMAL[action].request, MINIMAL[action].written

    body = wait(imm_client, create(imm_client, action, fields))

    assert (body.status, body.code, body.message, body.progress) == ("Succeeded", "", "", 100)
    assert body.task_type == OPERATIONS[action].task_type and body.project_name == PROJECT
    assert all(object_exists(seeded, uri) for uri in outputs), seeded.imm.tasks()[0]["Outputs"]
    assert seeded.imm.tasks()[0]["Outputs"] == outputs


@pytest.mark.parametrize("action", sorted(OPERATIONS))
async def test_every_action_succeeds_through_the_async_client(
    seeded: ImmEmulator, imm_client: Client, action: str
) -> None:
    fields, outputs = MINIMAL[action].request, MINIMAL[action].written
    op: TaskOperation = OPERATIONS[action]
    request = getattr(models, op.request_model)().from_map({"ProjectName": PROJECT, **fields})

    created = (await getattr(imm_client, f"{op.sdk_method}_async")(request)).body
    get = models.GetTaskRequest(project_name=PROJECT, task_type=op.task_type, task_id=created.task_id)
    for _ in range(250):
        body = (await imm_client.get_task_async(get)).body
        if body.status != "Running":
            break
        await asyncio.sleep(0.02)

    assert (body.status, body.task_id, body.event_id) == ("Succeeded", created.task_id, created.event_id)
    assert all(object_exists(seeded, uri) for uri in outputs)


def test_get_task_answers_every_field_the_sdk_model_has(seeded: ImmEmulator, imm_client: Client) -> None:
    office = MINIMAL["CreateOfficeConversionTask"].request
    fields = {**office, "Tags": {"team": "docs"}, "UserData": "run 7 + x"}
    get = create(imm_client, "CreateOfficeConversionTask", fields)
    get.request_definition = True

    body = wait(imm_client, get)

    assert body.tags == {"team": "docs"} and body.user_data == "run 7 + x"
    assert body.start_time.endswith("Z") and body.end_time.endswith("Z") and body.start_time <= body.end_time
    # IMM gives TaskRequestDefinition for a documented list of task types, not OfficeConversion.
    assert body.task_request_definition is None


def test_get_task_gives_the_request_definition_only_for_the_documented_types(
    seeded: ImmEmulator, imm_client: Client
) -> None:
    fields = {"SourceURI": BUNDLE, "TargetURI": "oss://out-bucket/p/", "UserData": "run 7"}
    get = create(imm_client, "CreateFileUncompressionTask", fields)
    get.request_definition = True

    definition = json.loads(wait(imm_client, get).task_request_definition)

    assert definition["SourceURI"] == BUNDLE and definition["UserData"] == "run 7"
    get.request_definition = False
    assert imm_client.get_task(get).body.task_request_definition is None


def test_a_running_task_reports_progress_and_no_end_time(seeded: ImmEmulator, imm_client: Client) -> None:
    user_data = json.dumps({"imm-emulator": {"duration": 0.6}})
    get = create(imm_client, "CreateImageModerationTask", {"SourceURI": PHOTO, "UserData": user_data})
    time.sleep(0.2)

    running = imm_client.get_task(get).body

    assert running.status == "Running" and running.end_time is None
    assert 10 <= running.progress <= 90
    assert wait(imm_client, get).progress == 100


def test_a_task_whose_source_is_missing_fails(seeded: ImmEmulator, imm_client: Client) -> None:
    fields = {
        **MINIMAL["CreateOfficeConversionTask"].request,
        "SourceURI": "oss://in-bucket/docs/absent.docx",
    }

    body = wait(imm_client, create(imm_client, "CreateOfficeConversionTask", fields))

    assert (body.status, body.code) == ("Failed", "ResourceNotFound")
    assert "does not exist" in body.message and "absent.docx" in body.message
    assert seeded.oss.list("out-bucket") == []


def test_user_data_overrides_the_outcome_of_one_request(seeded: ImmEmulator, imm_client: Client) -> None:
    override = {"duration": 0.01, "status": "Failed", "code": "InvalidDocument", "message": "no"}
    user_data = json.dumps({"job": 42, "imm-emulator": override})
    fields = {"SourceURI": PHOTO, "UserData": user_data}
    failed = wait(imm_client, create(imm_client, "CreateImageModerationTask", fields))
    plain = wait(imm_client, create(imm_client, "CreateImageModerationTask", {"SourceURI": PHOTO}))

    assert (failed.status, failed.code, failed.message, failed.user_data) == (
        "Failed",
        "InvalidDocument",
        "no",
        user_data,
    )
    assert plain.status == "Succeeded"


def test_an_invalid_override_is_refused(seeded: ImmEmulator, imm_client: Client) -> None:
    user_data = json.dumps({"imm-emulator": {"status": "Done"}})

    with pytest.raises(ClientException) as err:
        create(imm_client, "CreateImageModerationTask", {"SourceURI": PHOTO, "UserData": user_data})

    assert err.value.code == "InvalidArgument" and "Done" in err.value.message


def test_set_behaviour_applies_to_every_task_of_the_operation(
    seeded: ImmEmulator, imm_client: Client
) -> None:
    seeded.imm.set_behaviour("FaceClustering", duration=0.0, status="Failed", code="DatasetNotFound")

    clustering = wait(imm_client, create(imm_client, "CreateFigureClusteringTask", {"DatasetName": "faces"}))
    other = wait(imm_client, create(imm_client, "CreateSimilarImageClusteringTask", {"DatasetName": "faces"}))

    assert (clustering.status, clustering.code, clustering.message) == ("Failed", "DatasetNotFound", "")
    assert other.status == "Succeeded"
    seeded.imm.clear_behaviours()
    again = wait(imm_client, create(imm_client, "CreateFigureClusteringTask", {"DatasetName": "faces"}))
    assert again.status == "Succeeded"


def test_a_task_without_duration_runs_until_finished_by_hand(seeded: ImmEmulator, imm_client: Client) -> None:
    seeded.imm.set_behaviour("CreateVideoModerationTask", duration=None)
    get = create(imm_client, "CreateVideoModerationTask", {"SourceURI": VIDEO})
    time.sleep(0.1)
    assert imm_client.get_task(get).body.status == "Running"

    assert seeded.imm.finish_task(get.task_id, status="Failed", code="Timeout", message="gave up") is True

    body = imm_client.get_task(get).body
    assert (body.status, body.code, body.message) == ("Failed", "Timeout", "gave up")
    assert seeded.imm.finish_task(get.task_id) is False
    with pytest.raises(KeyError):
        seeded.imm.finish_task("VideoModeration-unknown")


def test_admin_routes_list_and_finish_tasks(seeded: ImmEmulator, imm_client: Client) -> None:
    user_data = json.dumps({"imm-emulator": {"duration": None}})
    get = create(
        imm_client, "CreateVideoLabelClassificationTask", {"SourceURI": VIDEO, "UserData": user_data}
    )

    with urllib.request.urlopen(f"{seeded.url}/_emulator/imm/tasks?project={PROJECT}") as response:
        listed = json.load(response)["tasks"]
    finish = urllib.request.Request(
        f"{seeded.url}/_emulator/imm/tasks/{get.task_id}/finish",
        data=json.dumps({"status": "Succeeded"}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(finish) as response:
        finished = json.load(response)

    assert [(t["TaskId"], t["Status"]) for t in listed] == [(get.task_id, "Running")]
    assert finished == {"finished": True}
    assert imm_client.get_task(get).body.status == "Succeeded"


def test_placeholders_follow_the_template_tags_and_prefix(seeded: ImmEmulator, imm_client: Client) -> None:
    templated = {
        "Sources": [{"URI": VIDEO}],
        "Tags": {"team": "media"},
        "Targets": [
            {
                "URI": "oss://out-bucket/{tags.team}/{dirname}/{barename}-{resolution}.{autoext}",
                "Container": "TS",
            },
            {"URI": "oss://out-bucket/snap/{barename}-{index}.{autoext}", "Container": "jpg"},
        ],
    }
    prefixed = {"SourceURI": DOC, "TargetType": "png", "TargetURIPrefix": "oss://out-bucket/pages/"}

    wait(imm_client, create(imm_client, "CreateMediaConvertTask", templated))
    wait(imm_client, create(imm_client, "CreateOfficeConversionTask", prefixed))

    written = ["media/video/clip-1920x1080.ts", "pages/1.png", "snap/clip-1.jpg"]
    assert seeded.oss.list("out-bucket") == written
    placeholder = seeded.oss.get("out-bucket", "pages/1.png").decode()
    assert "OfficeConversion" in placeholder and DOC in placeholder


def test_compression_and_uncompression_round_trip(seeded: ImmEmulator, imm_client: Client) -> None:
    files = {"oss://in-bucket/set/a.txt": b"alpha", "oss://in-bucket/set/sub/b.txt": b"beta"}
    for uri, data in files.items():
        put_object(seeded, uri, data)
    compress = {
        "Sources": [{"URI": "oss://in-bucket/set/"}, {"URI": PHOTO, "Alias": "/pictures/"}],
        "TargetURI": "oss://out-bucket/set.zip",
    }

    assert wait(imm_client, create(imm_client, "CreateFileCompressionTask", compress)).status == "Succeeded"
    with zipfile.ZipFile(io.BytesIO(get_object(seeded, "oss://out-bucket/set.zip"))) as archive:
        assert sorted(archive.namelist()) == ["a.txt", "pictures/photo.jpg", "sub/b.txt"]

    uncompress = {"SourceURI": "oss://out-bucket/set.zip", "TargetURI": "oss://back/restored/"}
    assert (
        wait(imm_client, create(imm_client, "CreateFileUncompressionTask", uncompress)).status == "Succeeded"
    )
    assert get_object(seeded, "oss://back/restored/a.txt") == b"alpha"
    assert get_object(seeded, "oss://back/restored/sub/b.txt") == b"beta"
    assert get_object(seeded, "oss://back/restored/pictures/photo.jpg") == get_object(seeded, PHOTO)


def test_the_request_definition_never_echoes_a_password(seeded: ImmEmulator, imm_client: Client) -> None:
    fields = {"SourceURI": BUNDLE, "TargetURI": "oss://out-bucket/p/", "Password": "zip-pass-123"}
    get = create(imm_client, "CreateFileUncompressionTask", fields)
    get.request_definition = True

    definition = wait(imm_client, get).task_request_definition

    assert "zip-pass-123" not in definition and json.loads(definition)["Password"] == "******"


def test_uncompression_honours_selected_files(seeded: ImmEmulator, imm_client: Client) -> None:
    fields = {"SourceURI": BUNDLE, "TargetURI": "oss://out-bucket/only", "SelectedFiles": ["data/"]}

    assert wait(imm_client, create(imm_client, "CreateFileUncompressionTask", fields)).status == "Succeeded"

    assert seeded.oss.list("out-bucket") == ["only/data/values.csv"]


@pytest.mark.parametrize("entry", ["../escape.txt", "inner/../../escape.txt", "/etc/escape.txt"])
def test_uncompression_refuses_entries_that_escape_the_target(
    seeded: ImmEmulator, imm_client: Client, entry: str
) -> None:
    put_object(seeded, "oss://in-bucket/evil.zip", zip_bytes({"fine.txt": b"ok", entry: b"boom"}))
    fields = {"SourceURI": "oss://in-bucket/evil.zip", "TargetURI": "oss://out-bucket/x/"}

    body = wait(imm_client, create(imm_client, "CreateFileUncompressionTask", fields))

    assert (body.status, body.code) == ("Failed", "InvalidArgument") and entry in body.message
    assert seeded.oss.list("out-bucket") == [] and not object_exists(seeded, "oss://in-bucket/escape.txt")


def test_compression_refuses_an_alias_that_escapes(seeded: ImmEmulator, imm_client: Client) -> None:
    fields = {
        "Sources": [{"URI": PHOTO, "Alias": "../../outside.jpg"}],
        "TargetURI": "oss://out-bucket/a.zip",
    }

    body = wait(imm_client, create(imm_client, "CreateFileCompressionTask", fields))

    assert (body.status, body.code) == ("Failed", "InvalidArgument")
    assert not object_exists(seeded, "oss://out-bucket/a.zip")


def test_task_information_is_kept_seven_days(seeded: ImmEmulator, imm_client: Client) -> None:
    get = create(imm_client, "CreateImageModerationTask", {"SourceURI": PHOTO})
    wait(imm_client, get)
    listed = models.ListTasksRequest(project_name=PROJECT)

    seeded.clock.advance(7 * 24 * 3600 - 60)
    assert imm_client.get_task(get).body.status == "Succeeded"
    assert len(imm_client.list_tasks(listed).body.tasks) == 1

    seeded.clock.advance(120)
    with pytest.raises(ClientException) as err:
        imm_client.get_task(get)
    assert (err.value.status_code, err.value.code) == (400, "ResourceNotFound")
    assert imm_client.list_tasks(listed).body.tasks == []


async def test_shutdown_cancels_tasks_still_running(tmp_path: Path) -> None:
    emulator = ImmEmulator(tmp_path / "oss")
    async with emulator:
        put_object(emulator, PHOTO, b"jpeg")
        request = models.CreateImageModerationTaskRequest(
            project_name=PROJECT, source_uri=PHOTO, user_data=json.dumps({"imm-emulator": {"duration": 0.2}})
        )
        await imm_client_for(emulator).create_image_moderation_task_async(request)

    await asyncio.sleep(0.4)

    assert [t["Status"] for t in emulator.imm.tasks()] == ["Running"]
