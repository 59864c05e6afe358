"""Render the day's reports to PDF, pack that run's outputs into one zip, and hand the archive on.

The compression task reads the folder the conversions wrote (a source URI ending in ``/`` packs
the whole folder); the downstream task gets the archive's URI and the IMM task id from the
compression task's XCom result. FileCompression takes no Tags, so a retry finds the task an earlier
try submitted through UserData instead: still no second archive.

Runs unchanged against the emulator and against Alibaba Cloud: only the ``imm_default`` connection
differs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_imm.operators.imm import ImmFileCompressionOperator, ImmOfficeConversionOperator

RUN_FOLDER = "oss://{{ params.bucket }}/reports/{{ ds }}/"

with DAG(
    dag_id="imm_compress_run_outputs",
    description="Convert the day's reports with IMM, zip them, publish the archive",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
    params={
        "bucket": Param("imm-demo-docs", type="string"),
        "reports": Param(
            ["sales.xlsx", "support.docx"],
            type="array",
            items={"type": "string"},
            description="object names under drafts/",
        ),
    },
    tags=["imm", "example"],
) as dag:

    @task
    def drafts(**context: Any) -> list[str]:
        params = context["params"]
        return [f"oss://{params['bucket']}/drafts/{name}" for name in params["reports"]]

    render = ImmOfficeConversionOperator.partial(
        task_id="render_pdf",
        target_type="pdf",
        target_uri=RUN_FOLDER + "{barename}.{autoext}",
        timeout=timedelta(hours=1),
    ).expand(source_uri=drafts())

    pack = ImmFileCompressionOperator(
        task_id="pack",
        sources=[{"URI": RUN_FOLDER, "Alias": "reports-{{ ds_nodash }}/"}],
        target_uri="oss://{{ params.bucket }}/archives/reports-{{ ds }}.zip",
        compressed_format="zip",
        timeout=timedelta(hours=1),
    )
    render >> pack

    @task
    def announce(archive: Any) -> dict[str, str]:
        """Uses the compression result: the archive's URI and the IMM task that wrote it."""
        (uri,) = archive["output_uris"]
        return {"archive": uri, "imm_task_id": archive["task_id"], "finished_at": archive["end_time"]}

    announce(pack.output)
