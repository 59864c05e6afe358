"""Every night, convert the whole backlog under an OSS prefix to PDF as ONE Airflow task.

``ImmBatchOperator`` lists ``oss://<bucket>/<backlog>`` with the Alibaba provider's ``OSSHook``,
validates one OfficeConversion request per document (a bad one fails the task before any IMM call),
submits them at ``submit_rate`` Create calls per second at most, then waits for all of them in one
deferral. Ten thousand documents cost one task instance, one trigger and one summary XCom instead of
ten thousand of each; the per-document results (source, IMM TaskId, status, code, outputs) go to a
JSON-lines manifest in OSS. A retry reattaches to every document's IMM task and resubmits only the
failed ones. An empty backlog skips the task: no IMM call.

Needs the ``oss`` extra (``pip install airflow-provider-imm[oss]``). Runs unchanged against the
emulator (``imm-emulator``) and against Alibaba Cloud: only the ``imm_default`` and ``oss_default``
connections differ.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_imm.operators.batch import ImmBatchOperator

with DAG(
    dag_id="imm_nightly_backlog_batch",
    description="Convert every document under an OSS prefix to PDF with IMM, as one batch task",
    schedule="30 1 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "bucket": Param("imm-demo-docs", type="string", description="OSS bucket of backlog and outbox"),
        "backlog": Param("backlog/", type="string", description="prefix the documents wait under"),
    },
    tags=["imm", "example"],
) as dag:
    # `{{ ds }}` is rendered by Airflow; `{barename}` and `{autoext}` are IMM's, per document.
    ImmBatchOperator(
        task_id="convert_backlog",
        action="CreateOfficeConversionTask",
        request={
            "TargetType": "pdf",
            "TargetURI": "oss://{{ params.bucket }}/converted/{{ ds }}/{barename}.{autoext}",
            "Tags": {"pipeline": "nightly-backlog"},
        },
        source_prefix="oss://{{ params.bucket }}/{{ params.backlog }}",
        source_suffixes=(".docx", ".doc", ".pptx", ".xlsx", ".pdf"),
        manifest_uri="oss://{{ params.bucket }}/manifests/{{ ds }}/backlog.jsonl",
        failure_policy="ratio",
        max_failure_ratio=0.01,  # up to 1% of damaged documents leave the run green; see the manifest
        submit_rate=20,
        timeout=timedelta(hours=6),
    )
