"""Every night, convert the documents that arrived in the inbox to PDF, one output folder per run date.

One IMM OfficeConversion task per document (dynamic task mapping), each waiting deferred in the
triggerer for IMM's MNS notification, so a hundred documents hold no worker slot while IMM works.

Which documents: there is no OSS client among the provider's dependencies, so the DAG does not list
the inbox itself; the object names come from the ``documents`` param (set it when triggering, or
have an upstream system pass them in the run's conf). With an OSS SDK installed, replace
``list_documents`` by a task that lists ``oss://<bucket>/<inbox>`` and returns the same URIs.

Runs unchanged against the emulator (``imm-emulator``) and against Alibaba Cloud: only the
``imm_default`` connection differs. The connection names the MNS topic IMM notifies and the queue
the triggerer reads (create both once with ``imm-setup-notifications``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_imm.operators.imm import ImmOfficeConversionOperator

with DAG(
    dag_id="imm_nightly_document_conversion",
    description="Convert the day's documents to PDF with IMM, one output folder per run date",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        # A retry reattaches to the IMM task the failed try submitted: IMM never converts twice.
        "retries": 2,
        "retry_delay": timedelta(seconds=20),
    },
    params={
        "bucket": Param("imm-demo-docs", type="string", description="OSS bucket of inbox and outbox"),
        "inbox": Param("inbox/", type="string", description="prefix the documents arrive under"),
        "documents": Param(
            ["quarterly-report.docx", "board-minutes.docx", "price-list.xlsx"],
            type="array",
            items={"type": "string"},
            description="object names under the inbox to convert",
        ),
        "team": Param("finance", type="string", description="folder of the outbox, per team"),
    },
    tags=["imm", "example"],
) as dag:

    @task
    def list_documents(**context: Any) -> list[str]:
        """The documents to convert, as OSS URIs (checked here, so a typo fails before any IMM call)."""
        from airflow_provider_imm.utils.oss_uri import parse_oss_uri

        params = context["params"]
        inbox = params["inbox"].strip("/")
        uris = [f"oss://{params['bucket']}/{inbox}/{name.lstrip('/')}" for name in params["documents"]]
        return [str(parse_oss_uri(uri, field="documents")) for uri in uris]

    # `{{ ds }}` and `{{ params.team }}` are rendered by Airflow; `{barename}` and `{autoext}` pass
    # through Jinja untouched and are filled in by IMM for each output (autoext: "pdf").
    convert = ImmOfficeConversionOperator.partial(
        task_id="convert_to_pdf",
        target_type="pdf",
        target_uri="oss://{{ params.bucket }}/outbox/{{ ds }}/{{ params.team }}/{barename}.{autoext}",
        tags={"team": "{{ params.team }}", "pipeline": "nightly-conversion"},
        timeout=timedelta(hours=2),
        map_index_template="{{ task.request['SourceURI'].rsplit('/', 1)[-1] }}",
    ).expand(source_uri=list_documents())

    @task
    def summarize(results: Any) -> dict[str, Any]:
        """One record of the night: which IMM tasks ran and what they wrote.

        ``results`` are the mapped conversions' XCom results, one dict per document.
        """
        outputs = sorted(uri for result in results for uri in result["output_uris"])
        return {
            "converted": len(results),
            "imm_tasks": sorted(result["task_id"] for result in results),
            "outputs": outputs,
        }

    summarize(convert.output)
