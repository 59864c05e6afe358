"""Render the day's reports to PDF, pack that run's outputs into one zip, and check the archive.

The compression task reads the folder the conversions wrote (a source URI ending in ``/`` packs
the whole folder); the downstream task gets the archive's URI and the IMM task id from the
compression task's XCom result, downloads the archive with the Alibaba provider's ``OSSHook`` and
checks that it holds one intact PDF per report. FileCompression takes no Tags, so a retry finds the
task an earlier try submitted through UserData instead: still no second archive.

Needs the ``oss`` extra (``apache-airflow-providers-alibaba``). Runs unchanged against the emulator
and against Alibaba Cloud: only the ``imm_default`` and ``oss_default`` connections differ.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_imm.operators.imm import ImmFileCompressionOperator, ImmOfficeConversionOperator

RUN_FOLDER = "oss://{{ params.bucket }}/reports/{{ ds }}/"
#: The connection of ``OSSHook`` (apache-airflow-providers-alibaba).
OSS_CONN_ID = "oss_default"

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
    def check_archive(archive: Any, **context: Any) -> dict[str, Any]:
        """Download the archive IMM wrote and check its members: one PDF per report, all intact."""
        import tempfile
        import zipfile
        from pathlib import Path, PurePosixPath

        from airflow.providers.alibaba.cloud.hooks.oss import OSSHook
        from airflow.sdk.exceptions import AirflowFailException

        (uri,) = archive["output_uris"]
        folder = f"reports-{context['ds_nodash']}/"
        expected = sorted(folder + PurePosixPath(name).stem + ".pdf" for name in context["params"]["reports"])
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(scratch) / "archive.zip"
            if OSSHook(oss_conn_id=OSS_CONN_ID).download_file(uri, str(local)) is None:
                raise AirflowFailException(f"could not download {uri} (see the OSSHook error above)")
            with zipfile.ZipFile(local) as zipped:
                members = sorted(zipped.namelist())
                damaged = zipped.testzip()
        if members != expected or damaged is not None:
            raise AirflowFailException(f"{uri} holds {members} (damaged: {damaged}), expected {expected}")
        return {"archive": uri, "imm_task_id": archive["task_id"], "members": members}

    check_archive(pack.output)
