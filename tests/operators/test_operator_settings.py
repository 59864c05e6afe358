"""Defaults an operator takes from the deployment, and the console link's address."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import conf

from airflow_provider_imm.links.imm import console_url
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator, default_deferrable
from airflow_provider_imm.sensors.imm import ImmTaskSensor


@pytest.fixture
def no_option(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    yield
    if conf.has_section("operators"):
        conf.remove_option("operators", "default_deferrable", remove_default=False)


def operator(**kwargs: Any) -> ImmCreateTaskOperator:
    return ImmCreateTaskOperator(task_id="t", action="FaceClustering", **kwargs)


@pytest.mark.usefixtures("no_option")
def test_deferrable_unless_the_deployment_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_deferrable() is True
    assert operator().deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert operator().deferrable is False
    assert ImmTaskSensor(task_id="s", imm_task_id="x", imm_task_type="FaceClustering").deferrable is False
    assert operator(deferrable=True).deferrable is True
    monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
    conf.set("operators", "default_deferrable", "false")
    assert operator().deferrable is False
    conf.set("operators", "default_deferrable", "true")
    assert operator().deferrable is True


def test_timeouts_and_intervals_are_checked_at_parse_time() -> None:
    assert operator(timeout=timedelta(minutes=2)).timeout == 120.0
    assert operator(timeout=90).timeout == 90.0
    assert operator().timeout is None
    with pytest.raises(ValueError, match="timeout must be positive"):
        operator(timeout=0)
    with pytest.raises(ValueError, match="poll_interval must be positive"):
        operator(poll_interval=-1)


def test_console_url_names_region_project_and_task() -> None:
    task = {
        "region": "cn-hangzhou",
        "project": "media lib",
        "task_type": "MediaConvert",
        "task_id": "MediaConvert-1",
    }
    assert console_url(task) == (
        "https://imm.console.aliyun.com/cn-hangzhou/project/media%20lib/tasks?taskType=MediaConvert&taskId=MediaConvert-1"
    )
    assert console_url({**task, "region": None}) == ""
