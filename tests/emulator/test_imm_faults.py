"""Injected IMM faults, latency and call counters, as the unchanged IMM SDK experiences them."""

from __future__ import annotations

import time

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.sdk_clients import imm_client_for

GET_PROJECT = models.GetProjectRequest(project_name=DEFAULT_PROJECT)


def test_throttling_with_retry_after_raises_throttling_exception(
    emulator: ImmEmulator, imm_client: Client
) -> None:
    emulator.faults.throttle_imm(1, retry_after=1.5)

    with pytest.raises(ThrottlingException) as err:
        imm_client.get_project(GET_PROJECT)

    assert (err.value.status_code, err.value.code, err.value.retry_after) == (400, "Throttling.User", 1500)
    assert "flow control" in err.value.message
    assert imm_client.get_project(GET_PROJECT).body.project.project_name == DEFAULT_PROJECT


async def test_the_async_client_sees_throttling_too(emulator: ImmEmulator, imm_client: Client) -> None:
    emulator.faults.throttle_imm(1, retry_after=0.25)

    with pytest.raises(ThrottlingException) as err:
        await imm_client.get_project_async(GET_PROJECT)

    assert err.value.retry_after == 250


def test_throttling_without_retry_after_is_a_client_exception(
    emulator: ImmEmulator, imm_client: Client
) -> None:
    emulator.faults.throttle_imm(2)

    for _ in range(2):
        with pytest.raises(ClientException) as err:
            imm_client.get_project(GET_PROJECT)
        assert not isinstance(err.value, ThrottlingException)
        assert (err.value.status_code, err.value.code) == (400, "Throttling.User")
    assert imm_client.get_project(GET_PROJECT).body.project


def test_server_errors_raise_server_exception(emulator: ImmEmulator, imm_client: Client) -> None:
    emulator.faults.fail_imm(1, status=503, code="ServiceUnavailable")

    with pytest.raises(ServerException) as err:
        imm_client.create_figure_clustering_task(
            models.CreateFigureClusteringTaskRequest(project_name=DEFAULT_PROJECT, dataset_name="faces")
        )

    assert (err.value.status_code, err.value.code) == (503, "ServiceUnavailable") and err.value.request_id
    assert emulator.imm.tasks() == []


def test_latency_delays_every_call(emulator: ImmEmulator, imm_client: Client) -> None:
    emulator.faults.imm_latency = 0.2
    started = time.monotonic()

    imm_client.get_project(GET_PROJECT)

    assert time.monotonic() - started >= 0.2


def test_every_call_is_counted_including_refused_and_faulted_ones(
    emulator: ImmEmulator, imm_client: Client
) -> None:
    request = models.CreateFigureClusteringTaskRequest(project_name=DEFAULT_PROJECT, dataset_name="faces")
    created = imm_client.create_figure_clustering_task(request).body
    imm_client.get_task(
        models.GetTaskRequest(
            project_name=DEFAULT_PROJECT, task_type="FaceClustering", task_id=created.task_id
        )
    )
    emulator.faults.fail_imm(1)
    with pytest.raises(ServerException):
        imm_client.get_project(GET_PROJECT)
    with pytest.raises(ClientException):
        imm_client_for(emulator, access_key_secret="wrong").get_project(GET_PROJECT)
    with pytest.raises(ClientException):
        imm_client.get_project(models.GetProjectRequest(project_name="missing"))

    assert emulator.counters.snapshot() == {
        "imm:CreateFigureClusteringTask": 1,
        "imm:GetTask": 1,
        "imm:GetProject": 3,
    }
