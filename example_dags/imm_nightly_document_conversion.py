"""Every night, convert the documents that arrived in an OSS inbox to PDF, check the PDFs, and file
the documents away.

1. ``find_documents`` lists ``oss://<bucket>/<inbox>`` with the Alibaba provider's ``OSSHook``. An
   empty inbox skips the rest of the run: no IMM call.
2. ``convert_to_pdf``: one IMM OfficeConversion task per document (dynamic task mapping), each
   waiting deferred in the triggerer for IMM's MNS notification, so a hundred documents hold no
   worker slot while IMM works. The PDFs land in one output folder per run date.
3. ``check_outputs`` reads every PDF IMM reported back through OSS: it must exist and not be empty.
4. ``file_documents`` then moves the converted documents to ``processed/<run date>/``, so the next
   night does not convert them again. A night on which a conversion or a check failed files nothing
   away: its documents wait in the inbox for a retry or the next night.

Needs the ``oss`` extra (``pip install airflow-provider-imm[oss]``, which brings
``apache-airflow-providers-alibaba``). Runs unchanged against the emulator (``imm-emulator``) and
against Alibaba Cloud: only the ``imm_default`` and ``oss_default`` connections differ. The ``imm``
connection names the MNS topic IMM notifies and the queue the triggerer reads (create both once
with ``imm-setup-notifications``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_imm.operators.imm import ImmOfficeConversionOperator

#: The connection of ``OSSHook`` (apache-airflow-providers-alibaba).
OSS_CONN_ID = "oss_default"

with DAG(
    dag_id="imm_nightly_document_conversion",
    description="Convert the documents in an OSS inbox to PDF with IMM, check them, file the inputs",
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
        "team": Param("finance", type="string", description="folder of the outbox, per team"),
    },
    tags=["imm", "example"],
) as dag:

    @task
    def find_documents(**context: Any) -> list[str]:
        """Every object under the inbox, as OSS URIs; none skips the run."""
        import alibabacloud_oss_v2 as oss
        from airflow.providers.alibaba.cloud.hooks.oss import OSSHook
        from airflow.sdk.exceptions import AirflowSkipException

        bucket, inbox = context["params"]["bucket"], context["params"]["inbox"].strip("/") + "/"
        client = OSSHook(oss_conn_id=OSS_CONN_ID).get_bucket(bucket)
        pages = client.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=bucket, prefix=inbox)
        )
        # A key ending in "/" is a folder placeholder, not a document.
        keys = [obj.key for page in pages for obj in page.contents or [] if not obj.key.endswith("/")]
        if not keys:
            raise AirflowSkipException(f"oss://{bucket}/{inbox} is empty: nothing to convert")
        print(f"{len(keys)} documents in oss://{bucket}/{inbox}: {keys}")
        return [f"oss://{bucket}/{key}" for key in keys]

    documents = find_documents()

    # `{{ ds }}` and `{{ params.team }}` are rendered by Airflow; `{barename}` and `{autoext}` pass
    # through Jinja untouched and are filled in by IMM for each output (autoext: "pdf").
    convert = ImmOfficeConversionOperator.partial(
        task_id="convert_to_pdf",
        target_type="pdf",
        target_uri="oss://{{ params.bucket }}/outbox/{{ ds }}/{{ params.team }}/{barename}.{autoext}",
        tags={"team": "{{ params.team }}", "pipeline": "nightly-conversion"},
        timeout=timedelta(hours=2),
        map_index_template="{{ task.request['SourceURI'].rsplit('/', 1)[-1] }}",
    ).expand(source_uri=documents)

    @task
    def check_outputs(results: Any) -> dict[str, Any]:
        """Read back, through OSS, every output IMM reported: it exists and is not empty.

        ``results`` are the mapped conversions' XCom results, one dict per document.
        """
        from airflow.providers.alibaba.cloud.hooks.oss import OSSHook
        from airflow.sdk.exceptions import AirflowFailException

        hook = OSSHook(oss_conn_id=OSS_CONN_ID)
        sizes = {}
        for uri in sorted(uri for result in results for uri in result["output_uris"]):
            if not hook.object_exists(uri):
                raise AirflowFailException(f"IMM reported {uri} as written, but OSS has no such object")
            sizes[uri] = hook.head_key(bucket_name=None, key=uri).content_length
            if not sizes[uri]:
                raise AirflowFailException(f"{uri} is empty")
        return {"imm_tasks": sorted(result["task_id"] for result in results), "outputs": sizes}

    @task
    def file_documents(documents: list[str], **context: Any) -> list[str]:
        """Move the converted documents from the inbox to ``processed/<run date>/``: a copy, then one
        DeleteMultipleObjects call. A retry skips what an earlier try moved already."""
        import alibabacloud_oss_v2 as oss
        from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

        hook = OSSHook(oss_conn_id=OSS_CONN_ID)
        bucket, inbox = context["params"]["bucket"], context["params"]["inbox"].strip("/") + "/"
        client = hook.get_bucket(bucket)
        moved = {}
        for uri in documents:
            key = OSSHook.parse_oss_url(uri)[1]
            target = f"processed/{context['ds']}/{key.removeprefix(inbox)}"
            if hook.object_exists(key, bucket_name=bucket):
                client.copy_object(
                    oss.CopyObjectRequest(bucket=bucket, key=target, source_bucket=bucket, source_key=key)
                )
            moved[key] = f"oss://{bucket}/{target}"
        hook.delete_objects(key=list(moved), bucket_name=bucket)
        return list(moved.values())

    check_outputs(convert.output) >> file_documents(documents)
