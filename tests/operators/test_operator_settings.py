"""Defaults an operator takes from the deployment, and the console link's address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_imm.links.imm import console_url
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from airflow_provider_imm.sensors.imm import ImmTaskSensor


def operator(**kwargs: Any) -> ImmCreateTaskOperator:
    return ImmCreateTaskOperator(task_id="t", action="FaceClustering", **kwargs)


def test_deferrable_by_default_whatever_the_deployment_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # The airflow.cfg that `airflow db migrate` writes says `default_deferrable = false`; IMM tasks
    # run for minutes or hours, so the operators defer unless told not to, per task.
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert operator().deferrable is True
    assert ImmTaskSensor(task_id="s", imm_task_id="x", imm_task_type="FaceClustering").deferrable is True
    assert operator(deferrable=False).deferrable is False
    sensor = ImmTaskSensor(task_id="s", imm_task_id="x", imm_task_type="FaceClustering", deferrable=False)
    assert sensor.deferrable is False


def test_timeouts_and_intervals_are_checked_at_parse_time() -> None:
    assert operator(timeout=timedelta(minutes=2)).timeout == 120.0
    assert operator(timeout=90).timeout == 90.0
    assert operator().timeout is None
    with pytest.raises(ValueError, match="timeout must be positive"):
        operator(timeout=0)
    with pytest.raises(ValueError, match="poll_interval must be positive"):
        operator(poll_interval=-1)


def test_console_url_is_the_project_list_of_the_region() -> None:
    # No deep link to a task is documented: the link opens the page known to exist.
    assert console_url("cn-hangzhou") == "https://imm.console.aliyun.com/v2/cn-hangzhou/projects"
    assert console_url("cn hangzhou/x") == "https://imm.console.aliyun.com/v2/cn%20hangzhou%2Fx/projects"
    assert console_url(None) == console_url("") == ""
