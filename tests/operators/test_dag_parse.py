"""A DAG file using the operators and the sensor parses without importing the IMM or MNS SDK."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SDK_MODULES = (
    "alibabacloud_imm20200930",
    "alibabacloud_tea_openapi",
    "alibabacloud_credentials",
    "darabonba",
    "mns",
)

DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import (
    ImmCreateTaskOperator,
    ImmFileCompressionOperator,
    ImmFileUncompressionOperator,
    ImmImageToPdfOperator,
    ImmMediaConvertOperator,
    ImmOfficeConversionOperator,
)
from airflow_provider_imm.sensors.imm import ImmTaskSensor

with DAG("parse_only", schedule=None) as dag:
    ImmCreateTaskOperator(task_id="generic", action="FaceClustering", request={"DatasetName": "d"})
    ImmOfficeConversionOperator(task_id="office", source_uri="oss://b/a.docx", target_type="pdf",
                                target_uri="oss://out/{{ ds }}/{barename}.{autoext}")
    ImmMediaConvertOperator(task_id="media", source_uri="oss://b/a.mov",
                            targets=[{"URI": "oss://out/{barename}.mp4", "Container": "mp4"}])
    ImmFileCompressionOperator(task_id="zip", sources=["oss://b/a.docx"], target_uri="oss://out/a.zip")
    ImmFileUncompressionOperator(task_id="unzip", source_uri="oss://out/a.zip", target_uri="oss://out/a/")
    ImmImageToPdfOperator(task_id="pdf", sources=["oss://b/a.jpg"], target_uri="oss://out/a.pdf")
    ImmTaskSensor(task_id="wait", imm_task_id="{{ ti.xcom_pull('generic') }}", imm_task_type="FaceClustering")

import sys
print(json.dumps({"tasks": len(dag.tasks), "loaded": sorted(m for m in __SDK__ if m in sys.modules)}))
"""


def test_parsing_a_dag_file_imports_no_sdk(tmp_path: Path) -> None:
    source = "import json\n" + textwrap.dedent(DAG_FILE).replace("__SDK__", repr(SDK_MODULES))
    (tmp_path / "dag.py").write_text(source)
    completed = subprocess.run(
        [sys.executable, str(tmp_path / "dag.py")], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report == {"tasks": 7, "loaded": []}


#: Modules a DAG file has no use for: the trigger (and Airflow's trigger base class it needs), the
#: hook's credentials code and the notification parser; each was imported once, for a constant or
#: a type, and together they made the operator's import cost about half as much again.
RUN_TIME_MODULES = (
    "airflow.triggers",
    "airflow_provider_imm.triggers.imm",
    "airflow_provider_imm.triggers.mns_listener",
    "airflow_provider_imm.hooks.imm",
    "airflow_provider_imm.utils.notification_parsing",
)


def test_the_operator_and_sensor_modules_import_no_trigger_at_parse_time() -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        import airflow.sdk
        before = sorted(m for m in sys.modules if m.startswith({RUN_TIME_MODULES!r}))
        import airflow_provider_imm.operators.imm
        import airflow_provider_imm.sensors.imm
        print(json.dumps({{
            "before": before,
            "loaded": sorted(m for m in sys.modules if m.startswith({RUN_TIME_MODULES!r})),
        }}))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == {"before": [], "loaded": []}


def test_the_default_intervals_keep_their_public_names() -> None:
    from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
    from airflow_provider_imm.triggers import imm as trigger_module
    from airflow_provider_imm.triggers.intervals import DEFAULT_POLL_INTERVAL, DEFAULT_RECONCILE_INTERVAL

    operator = ImmCreateTaskOperator(task_id="t", action="FaceClustering", request={"DatasetName": "d"})

    assert (trigger_module.DEFAULT_RECONCILE_INTERVAL, trigger_module.DEFAULT_POLL_INTERVAL) == (300.0, 30.0)
    assert (operator.reconcile_interval, operator.poll_interval) == (
        DEFAULT_RECONCILE_INTERVAL,
        DEFAULT_POLL_INTERVAL,
    )
