"""Convert each document to PDF as it lands in an OSS inbox: no schedule, no listing.

OSS publishes an event for every object put under ``oss://<bucket>/inbox/`` to an MNS topic; the
watcher queue subscribed to it is read in the triggerer by an asset watcher
(``MessageQueueTrigger(scheme="alibaba+mns", ...)``, this provider's ``MnsEventTrigger``), which
turns each upload into an asset event whose payload names the object (bucket, key, size, ETag,
event, time, MNS message id). Each asset event starts, or joins, a run of this DAG:

1. ``uploaded_objects`` reads the asset events that triggered the run. Airflow may fold several
   events into one run, so the run converts exactly the objects of its events, each once (an object
   put twice before the run starts is converted once, in its latest upload). An asset event can
   still come twice: on Airflow 3.2, a triggerer killed in the seconds before its watcher deletes the
   message; on 3.3, one killed after Airflow stored the event and before the watcher marked its
   message stored (the README says how long that is). The second event may land in a run that runs
   at the same moment as the first, so a run claims each upload of its events before converting it
   (an upload: MNS message id and object; a redelivery keeps the message id, a new upload of the
   object makes a new message). It puts ``claims/<dag_id>/<message id>/<object digest>``, naming
   the run, with ``x-oss-forbid-overwrite: true``: OSS stores it only if no object is there, and
   else answers 409 FileAlreadyExists, see
   https://www.alibabacloud.com/help/en/object-storage-service/latest/disable-overwriting-object-with-the-same-name.
   A claim that names this run (a retry of the task) is its own; one naming another run leaves the
   upload to that run. The run converts an object once if it holds the claim of any upload of it
   among its events (IMM converts what the object holds by then; an object put again after another
   run converted it is converted again by the run holding the new upload, as it should). A lock of
   our own is needed because neither service offers one: IMM
   takes no idempotency token (asking it whether it has a task for the object races with the other
   run's submission), and Airflow's asset state store has no compare-and-set. What it costs: a
   PutObject per upload (a GetObject more where another run's claim is there; the connection needs
   both on ``claims/``), and one small object per upload left under ``claims/``: a lifecycle rule
   on that prefix, expiring objects a few days after the watcher queue's message retention (at most
   7 days: no message comes back later), removes them. A run that claimed an upload and then failed
   keeps the claim: clear the run (same run id) to convert it. (Not ``max_active_runs=1`` to order
   runs: Airflow 3.3 then gives a deferred run only the events stored before the first event that
   queued it, and the later ones wait for the next upload.)
2. ``convert_to_pdf``: one IMM OfficeConversion task per object (dynamic task mapping), deferred
   until IMM's notification arrives; the PDF lands under ``outbox/``, beside the inbox's folders.
3. ``check_outputs`` reads every PDF IMM reported back through OSS: it must exist and not be empty.

Set up once: ``imm-setup-notifications --watcher-queue imm-watch --oss-bucket <bucket> --oss-prefix
inbox/`` creates the watcher queue on the connection's topic (and, on the emulator, the OSS event
rule; on the cloud it prints the rule to create). Which bucket and queue are read at parse time from
``IMM_WATCH_BUCKET`` and ``IMM_WATCH_QUEUE``. Needs the ``oss`` and ``messaging`` extras.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_imm.operators.imm import ImmOfficeConversionOperator

if TYPE_CHECKING:
    import alibabacloud_oss_v2 as oss

BUCKET = os.environ.get("IMM_WATCH_BUCKET", "imm-demo-docs")
WATCH_QUEUE = os.environ.get("IMM_WATCH_QUEUE", "imm-watch")
INBOX = "inbox/"
#: Where runs claim uploads: outside the inbox, so no event is published for a claim.
CLAIMS = "claims/"
#: The connection of ``OSSHook`` (apache-airflow-providers-alibaba).
OSS_CONN_ID = "oss_default"


def claim_uploads(
    client: oss.Client, bucket: str, prefix: str, uploads: Iterable[tuple[str, str]], run: Mapping[str, str]
) -> set[tuple[str, str]]:
    """Of ``uploads`` ((MNS message id, object URI)), those ``run`` (``dag_id``, ``run_id``) holds.

    Each is claimed by putting ``<prefix><message id>/<digest of the URI>`` with forbid-overwrite: of
    runs claiming one upload at the same moment, OSS stores exactly one claim. A claim that is there
    already is held by the run it names, which may be ``run`` itself (a retry).
    """
    import alibabacloud_oss_v2 as oss

    held = set()
    for message_id, uri in dict.fromkeys(uploads):
        key = f"{prefix}{message_id}/{hashlib.sha256(uri.encode()).hexdigest()[:16]}"
        claim = {"dag_id": run["dag_id"], "run_id": run["run_id"], "object": uri}
        try:
            client.put_object(
                oss.PutObjectRequest(
                    bucket=bucket, key=key, body=json.dumps(claim).encode(), forbid_overwrite=True
                )
            )
        except oss.exceptions.OperationError as err:
            cause = err.unwrap()
            if not (isinstance(cause, oss.exceptions.ServiceError) and cause.code == "FileAlreadyExists"):
                raise
            holder = json.loads(client.get_object(oss.GetObjectRequest(bucket=bucket, key=key)).body.read())
            if (holder.get("dag_id"), holder.get("run_id")) != (run["dag_id"], run["run_id"]):
                continue
        held.add((message_id, uri))
    return held


def objects_to_convert(
    client: oss.Client, bucket: str, payloads: Iterable[Mapping[str, Any]], run: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Per object of the OSS event ``payloads`` under the inbox of which ``run`` holds an upload
    (:func:`claim_uploads`), once, in upload order: the operator's arguments. Holding any of the
    object's uploads is enough: which of them is the latest, the order of events across runs does
    not say (a redelivered earlier upload may come after a newer one)."""
    inbox = list(
        dict.fromkeys(
            (p["message_id"], f"oss://{p['bucket']}/{p['key']}")
            for p in payloads
            if p.get("source") == "oss" and str(p.get("key", "")).startswith(INBOX)
        )
    )
    held = claim_uploads(client, bucket, f"{CLAIMS}{run['dag_id']}/", inbox, run)
    objects: dict[str, str] = {}
    for message_id, uri in inbox:
        if (message_id, uri) in held:
            objects.pop(uri, None)  # in upload order, tagged with its last upload held
            objects[uri] = message_id
    return [{"source_uri": uri, "tags": {"upload": message_id}} for uri, message_id in objects.items()]


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
        """Per object whose upload triggered this run and that no other run claimed: its URI, and
        the upload's MNS message id as a tag of the conversion."""
        from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

        events = context["triggering_asset_events"][uploads]
        payloads = [(event.extra or {}).get("payload") or {} for event in events]
        run = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"]}
        client = OSSHook(oss_conn_id=OSS_CONN_ID).get_bucket()
        objects = objects_to_convert(client, BUCKET, payloads, run)
        print(f"{len(events)} asset events, {len(objects)} objects claimed by this run")
        return objects

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
