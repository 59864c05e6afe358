"""Request validation and project operations of the emulated IMM API, through the unchanged SDK."""

from __future__ import annotations

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
from darabonba.runtime import RuntimeOptions

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.sdk_clients import imm_client_for

DOC = "oss://in-bucket/docs/report.docx"


def office(**fields: object) -> models.CreateOfficeConversionTaskRequest:
    base: dict[str, object] = {
        "ProjectName": DEFAULT_PROJECT,
        "SourceURI": DOC,
        "TargetType": "pdf",
        "TargetURI": "oss://out-bucket/{barename}.pdf",
    }
    base.update(fields)
    return models.CreateOfficeConversionTaskRequest().from_map(
        {k: v for k, v in base.items() if v is not None}
    )


def refused(call: object, *args: object) -> ClientException:
    with pytest.raises(ClientException) as err:
        call(*args)  # type: ignore[operator]
    return err.value


def raw_call(client: Client, action: str, query: dict[str, str]) -> dict[str, object]:
    params = Params(
        action=action,
        version="2020-09-30",
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    return client.call_api(params, OpenApiRequest(query=query), RuntimeOptions())


def test_a_valid_request_through_both_signature_forms_creates_a_task(emulator: ImmEmulator) -> None:
    for algorithm in (None, "v2"):
        body = (
            imm_client_for(emulator, signature_algorithm=algorithm)
            .create_office_conversion_task(office())
            .body
        )
        assert body.task_id.startswith("OfficeConversion-")
    assert len(emulator.imm.tasks()) == 2


def test_an_unknown_project_is_resource_not_found(imm_client: Client) -> None:
    err = refused(imm_client.create_office_conversion_task, office(ProjectName="ghost"))

    # IMM's error-handling page gives ResourceNotFound as HTTP 400, not 404.
    assert (err.status_code, err.code) == (400, "ResourceNotFound") and "ghost" in err.message


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("SourceURI", "MissingSourceURI"),
        ("TargetType", "MissingTargetType"),
        ("TargetURI", "MissingTargetURI"),
    ],
)
def test_a_missing_required_field_names_it_in_the_code(imm_client: Client, missing: str, code: str) -> None:
    err = refused(imm_client.create_office_conversion_task, office(**{missing: None}))

    assert (err.status_code, err.code) == (400, code)


def test_a_missing_project_name_is_invalid_argument(imm_client: Client) -> None:
    request = models.CreateFigureClusteringTaskRequest(dataset_name="faces")

    err = refused(imm_client.create_figure_clustering_task, request)
    # IMM's own example for this case, from its error-handling page.
    assert (err.status_code, err.code) == (400, "InvalidArgument")
    assert "The parameter ProjectName is required but not provided." in err.message
    for call, empty in (
        (imm_client.get_task, models.GetTaskRequest(task_type="OfficeConversion", task_id="t")),
        (imm_client.list_tasks, models.ListTasksRequest()),
        (imm_client.get_project, models.GetProjectRequest()),
        (imm_client.create_project, models.CreateProjectRequest()),
    ):
        assert refused(call, empty).code == "InvalidArgument"


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        (
            {"SourceURI": "http://in-bucket.oss-cn-hangzhou.aliyuncs.com/docs/report.docx"},
            "oss://in-bucket/docs",
        ),
        ({"SourceURI": "oss://in-bucket.oss-cn-hangzhou.aliyuncs.com/docs/report.docx"}, "endpoint host"),
        ({"TargetURI": "oss://out-bucket/{basenme}.pdf"}, "{basename}"),
        ({"TargetURI": "oss://out-bucket/{tags.team}.pdf"}, "no tag 'team'"),
        ({"TargetURI": "s3://out-bucket/x.pdf"}, "oss://"),
        ({"UserData": "x" * 2049}, "2048"),
    ],
)
def test_invalid_fields_are_invalid_argument(imm_client: Client, fields: dict[str, str], hint: str) -> None:
    err = refused(imm_client.create_office_conversion_task, office(**fields))

    assert (err.status_code, err.code) == (400, "InvalidArgument") and hint in err.message


def test_target_templates_may_use_request_tags(imm_client: Client) -> None:
    request = office(TargetURI="oss://out-bucket/{tags.team}/{barename}.pdf", Tags={"team": "docs"})

    assert imm_client.create_office_conversion_task(request).body.task_id


def test_a_field_that_is_not_json_is_invalid_argument(imm_client: Client) -> None:
    query = {"ProjectName": DEFAULT_PROJECT, "DatasetName": "faces", "Tags": "{not json"}

    err = refused(raw_call, imm_client, "CreateFigureClusteringTask", query)

    assert (err.code, err.message.count("Tags")) == ("InvalidArgument", 1)


def test_an_unknown_action_is_invalid_action_not_found(imm_client: Client) -> None:
    err = refused(raw_call, imm_client, "CreateTeleportationTask", {"ProjectName": DEFAULT_PROJECT})

    assert (err.status_code, err.code) == (404, "InvalidAction.NotFound")


def test_get_task_of_an_unknown_task_is_resource_not_found(imm_client: Client) -> None:
    created = imm_client.create_office_conversion_task(office()).body
    wrong_type = models.GetTaskRequest(
        project_name=DEFAULT_PROJECT, task_type="MediaConvert", task_id=created.task_id
    )
    unknown = models.GetTaskRequest(
        project_name=DEFAULT_PROJECT, task_type="OfficeConversion", task_id="nope"
    )

    assert refused(imm_client.get_task, wrong_type).code == "ResourceNotFound"
    assert refused(imm_client.get_task, unknown).status_code == 400
    assert (
        refused(imm_client.get_task, models.GetTaskRequest(project_name=DEFAULT_PROJECT)).code
        == "MissingTaskType"
    )


def test_projects_can_be_created_read_listed_and_deleted(emulator: ImmEmulator, imm_client: Client) -> None:
    tag = models.CreateProjectRequestTag(key="owner", value="data")
    created = imm_client.create_project(
        models.CreateProjectRequest(project_name="media-2", description="media", tag=[tag])
    ).body.project
    imm_client.create_project(models.CreateProjectRequest(project_name="media-1"))

    project = imm_client.get_project(models.GetProjectRequest(project_name="media-2")).body.project
    page = imm_client.list_projects(models.ListProjectsRequest(prefix="media-", max_results=1)).body
    rest = imm_client.list_projects(
        models.ListProjectsRequest(prefix="media-", next_token=page.next_token)
    ).body
    by_tag = imm_client.list_projects(
        models.ListProjectsRequest(tag=[models.ListProjectsRequestTag("owner", "data")])
    )

    assert (created.project_name, created.description, created.service_role) == (
        "media-2",
        "media",
        "AliyunIMMDefaultRole",
    )
    assert [(t.tag_key, t.tag_value) for t in project.tags] == [("owner", "data")]
    assert project.create_time.endswith("Z") and project.dataset_count == 0
    assert [p.project_name for p in page.projects] == ["media-1"]
    assert [p.project_name for p in rest.projects] == ["media-2"] and rest.next_token == ""
    assert [p.project_name for p in by_tag.body.projects] == ["media-2"]

    imm_client.delete_project(models.DeleteProjectRequest(project_name="media-2"))
    assert (
        refused(imm_client.get_project, models.GetProjectRequest(project_name="media-2")).code
        == "ResourceNotFound"
    )
    assert sorted(emulator.imm.projects) == sorted([DEFAULT_PROJECT, "media-1"])


def test_creating_an_existing_project_is_resource_already_exists(imm_client: Client) -> None:
    err = refused(imm_client.create_project, models.CreateProjectRequest(project_name=DEFAULT_PROJECT))

    assert (err.status_code, err.code) == (400, "ResourceAlreadyExists")


def test_deleting_a_project_forgets_its_tasks(emulator: ImmEmulator, imm_client: Client) -> None:
    imm_client.create_project(models.CreateProjectRequest(project_name="short-lived"))
    imm_client.create_office_conversion_task(office(ProjectName="short-lived"))

    imm_client.delete_project(models.DeleteProjectRequest(project_name="short-lived"))

    assert emulator.imm.tasks() == []
