"""Convert each document to PDF as it lands in an OSS inbox: no schedule, no listing.

OSS publishes an event for every object put under ``oss://<bucket>/inbox/`` to an MNS topic; the
watcher queue subscribed to it is read in the triggerer by an asset watcher
(``MessageQueueTrigger(scheme="alibaba+mns", ...)``, this provider's ``MnsEventTrigger``), which
turns each upload into an asset event whose payload names the object (bucket, key, size, ETag,
event, time, MNS message id). Each asset event starts, or joins, a run of this DAG:

1. ``uploaded_objects`` reads the asset events that triggered the run. Airflow may fold several
   events into one run, so the run converts exactly the objects of its events, each once (an object
   put twice before the run starts is converted once, in its latest version). An asset event can
   still come twice: on Airflow 3.2, a triggerer killed in the seconds before its watcher deletes the
   message; on 3.3, one killed after Airflow stored the event and before the watcher marked its
   message stored (the README says how long that is). So each conversion is tagged with the object
   version it converts (bucket, key, ETag), and a version IMM already has a conversion task for is
   left out. That catches a second event in a later run, not in a run submitting at the same moment:
   IMM takes no idempotency token and Airflow's asset state store has no compare-and-set, so two runs
   cannot claim a version without a lock of their own. (Not ``max_active_runs=1`` to order runs:
   Airflow 3.3 then gives a deferred run only the events stored before the first event that queued
   it, and the later ones wait for the next upload.)
2. ``convert_to_pdf``: one IMM OfficeConversion task per object (dynamic task mapping), deferred
   until IMM's notification arrives; the PDF lands under ``outbox/``, beside the inbox's folders.
3. ``check_outputs`` reads every PDF IMM reported back through OSS: it must exist and not be empty.

Set up once: ``imm-setup-notifications --watcher-queue imm-watch --oss-bucket <bucket> --oss-prefix
inbox/`` creates the watcher queue on the connection's topic (and, on the emulator, the OSS event
rule; on the cloud it prints the rule to create). Which bucket and queue are read at parse time from
``IMM_WATCH_BUCKET`` and ``IMM_WATCH_QUEUE``. Needs the ``oss`` and ``messaging`` extras.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_imm.operators.imm import ImmOfficeConversionOperator

BUCKET = os.environ.get("IMM_WATCH_BUCKET", "imm-demo-docs")
WATCH_QUEUE = os.environ.get("IMM_WATCH_QUEUE", "imm-watch")
INBOX = "inbox/"
#: The connection of ``OSSHook`` (apache-airflow-providers-alibaba).
OSS_CONN_ID = "oss_default"

uploads = Asset(
    name="imm_inbox_uploads",
    uri=f"oss://{BUCKET}/{INBOX}",
    watchers=[
        AssetWatcher(
            name="imm_inbox_watcher",
            trigger=MessageQueueTrigger(
                scheme="alibaba+mns",
                mns_queue=WATCH_QUEUE,
                imm_conn_id="imm_default",
                source="oss",
                bucket=BUCKET,
                prefix=INBOX,
                events=["ObjectCreated:*"],
            ),
        )
    ],
)

with DAG(
    dag_id="imm_convert_on_upload",
    description="Convert each document put in an OSS inbox to PDF with IMM, as it lands",
    schedule=[uploads],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
    tags=["imm", "example", "event-driven"],
) as dag:

    @task
    def uploaded_objects(**context: Any) -> list[dict[str, Any]]:
        """Per object whose upload triggered this run (each once, in upload order) and that IMM has
        not converted yet in this version: its URI and the tag naming the version."""
        import hashlib

        from airflow_provider_imm.hooks.imm import ImmHook

        events = context["triggering_asset_events"][uploads]
        objects: dict[str, dict[str, Any]] = {}
        for event in events:
            payload = (event.extra or {}).get("payload") or {}
            if payload.get("source") == "oss" and payload.get("key", "").startswith(INBOX):
                uri = f"oss://{payload['bucket']}/{payload['key']}"
                version = hashlib.sha256(f"{uri}@{payload.get('etag')}".encode()).hexdigest()[:32]
                objects.pop(uri, None)  # the latest version, in upload order
                objects[uri] = {"source_uri": uri, "tags": {"upload": version}}
        hook = ImmHook()
        fresh = [
            o for o in objects.values() if not hook.find_tasks(o["tags"], task_types=["OfficeConversion"])
        ]
        print(f"{len(events)} asset events, {len(objects)} objects, {len(fresh)} not converted yet")
        return fresh

    convert = ImmOfficeConversionOperator.partial(
        task_id="convert_to_pdf",
        target_type="pdf",
        # `{dirname}`, `{barename}`, `{autoext}` are IMM's, filled in for each source object.
        target_uri=f"oss://{BUCKET}/outbox/{{dirname}}/{{barename}}.{{autoext}}",
        timeout=timedelta(hours=1),
        map_index_template="{{ task.request['SourceURI'].rsplit('/', 1)[-1] }}",
    ).expand_kwargs(uploaded_objects())

    @task
    def check_outputs(results: Any) -> dict[str, int]:
        """Every PDF IMM reported exists in OSS and is not empty."""
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
        return sizes

    check_outputs(convert.output)
