"""End to end: ``imm_convert_on_upload`` on a real Airflow deployment (api-server, scheduler,
dag-processor, triggerer as separate processes, SQLite + LocalExecutor) against the emulator.

Uploads go through ``alibabacloud-oss-v2`` to the emulator's OSS API; its OSS event rule publishes
each to the MNS topic; the watcher queue subscribed to the topic is read by the DAG's asset watcher
in the triggerer. Counted afterwards: asset events in Airflow's metadata DB, IMM conversions in the
emulator (exactly one per key, whichever runs the asset events land in), PDFs in OSS.

The burst is ``IMM_E2E_BURST`` uploads (default 200); set it lower where the machine is slow.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.utils.mns_event_filters import EventFilter
from tests.e2e.deployment import EXAMPLE_DAGS, MNS_TOPIC, SQLITE_LOCAL, AirflowDeployment
from tests.sdk_clients import oss_client_for
from tests.triggers.mns_watch import HAS_SHARED_STREAMS

pytestmark = pytest.mark.timeout(900)

DAG_ID = "imm_convert_on_upload"
BUCKET = "imm-watch-docs"
WATCH_QUEUE = "imm-watch"
ASSET = "imm_inbox_uploads"
BURST = int(os.environ.get("IMM_E2E_BURST", "200"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ImmEmulator, AirflowDeployment]]:
    root = tmp_path_factory.mktemp("e2e-event-driven")
    emulator = ImmEmulator(root / "oss", task_duration=0.2, projects=(DEFAULT_PROJECT,)).start()
    connections = emulator.airflow_connections("imm_default", project=DEFAULT_PROJECT, mns_topic=MNS_TOPIC)
    # Only this DAG, active from its first parse: Airflow registers an asset's watchers when the DAG
    # is parsed unpaused (the deployment parses a file again only after 10 minutes).
    dags = root / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE_DAGS / f"{DAG_ID}.py", dags)
    extra_env = {
        "IMM_WATCH_BUCKET": BUCKET,
        "IMM_WATCH_QUEUE": WATCH_QUEUE,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # The deployment turns schedules off; asset-triggered runs are created by the same code.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
    }
    airflow = AirflowDeployment(
        root / "airflow", connections=connections, dags_folder=dags, backend=SQLITE_LOCAL, extra_env=extra_env
    )
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_IMM_DEFAULT", connections["imm_default"])
            from airflow_provider_imm.cli import main

            args = ["--watcher-queue", WATCH_QUEUE, "--oss-bucket", BUCKET, "--oss-prefix", "inbox/"]
            assert main(args) == 0
        oss_client_for(emulator).put_bucket(_request("PutBucketRequest", bucket=BUCKET))
        airflow.start_all()
        airflow.wait_for_dags({DAG_ID})
        yield emulator, airflow
    finally:
        airflow.stop()
        emulator.stop()
        assert airflow.survivors == []


def _request(name: str, **fields: Any) -> Any:
    import alibabacloud_oss_v2 as oss

    return getattr(oss, name)(**fields)


def _upload(emulator: ImmEmulator, keys: list[str]) -> None:
    client = oss_client_for(emulator)
    for key in keys:
        client.put_object(
            _request("PutObjectRequest", bucket=BUCKET, key=key, body=f"document {key}".encode())
        )


def _asset_events(airflow: AirflowDeployment, prefix: str) -> dict[str, list[str]]:
    """Asset events of the watcher's asset: per object key under ``prefix``, their MNS message ids."""
    return {key: [m for m, _ in stored] for key, stored in _stored_events(airflow, prefix).items()}


def _stored_events(airflow: AirflowDeployment, prefix: str) -> dict[str, list[tuple[str, float]]]:
    """Per object key under ``prefix``: (MNS message id, when Airflow stored the event), in order."""
    rows = airflow.query(
        "SELECT e.extra, e.timestamp FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE a.name = :name ORDER BY e.id",
        name=ASSET,
    )
    keys: dict[str, list[tuple[str, float]]] = {}
    for extra, stamp in rows:
        payload = (json.loads(extra) if isinstance(extra, str) else extra).get("payload") or {}
        if str(payload.get("key", "")).startswith(prefix):
            when = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
            when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
            keys.setdefault(payload["key"], []).append((payload["message_id"], when.timestamp()))
    return keys


def _conversions(emulator: ImmEmulator, prefix: str) -> Counter[str]:
    """IMM OfficeConversion tasks, counted by source key under ``prefix``."""
    found: Counter[str] = Counter()
    for task in emulator.imm.tasks():
        request = task.get("TaskRequestDefinition") or {}
        if isinstance(request, str):
            request = json.loads(request)
        source = str(request.get("SourceURI", ""))
        if task.get("TaskType") == "OfficeConversion" and source.startswith(f"oss://{BUCKET}/{prefix}"):
            found[source.removeprefix(f"oss://{BUCKET}/")] += 1
    return found


def _until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    airflow: AirflowDeployment,
    tick: Callable[[], None] = lambda: None,
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout:.0f} s\n{airflow.log_tail('triggerer')}")
        tick()
        time.sleep(2.0)


def _keep_uploading(emulator: ImmEmulator) -> Callable[[], None]:
    """One more upload under inbox/flush/ per call: Airflow 3.3 leaves an event stored while the run
    it should join is being created for the next event, as uploads in use would bring."""
    count = iter(range(10**6))
    return lambda: _upload(emulator, [f"inbox/flush/{next(count):05d}.docx"])


def test_one_upload_starts_a_run_that_writes_the_pdf(
    deployment: tuple[ImmEmulator, AirflowDeployment],
) -> None:
    emulator, airflow = deployment
    _upload(emulator, ["inbox/one/report.docx"])
    _until(lambda: emulator.oss.exists(BUCKET, "outbox/inbox/one/report.pdf"), 240, "the PDF", airflow)
    assert list(_asset_events(airflow, "inbox/one/")) == ["inbox/one/report.docx"]
    assert _conversions(emulator, "inbox/one/") == {"inbox/one/report.docx": 1}


def test_a_burst_with_the_triggerer_killed_midway_loses_nothing(
    deployment: tuple[ImmEmulator, AirflowDeployment],
) -> None:
    emulator, airflow = deployment
    keys = [f"inbox/burst/{i:04d}.docx" for i in range(BURST)]
    half = BURST // 2
    _upload(emulator, keys[:half])
    _until(lambda: len(_asset_events(airflow, "inbox/burst/")) >= half // 2, 240, "events", airflow)
    airflow.kill("triggerer")
    killed_at = time.time()
    _upload(emulator, keys[half:])
    airflow.start_triggerer()
    _until(
        lambda: len(_conversions(emulator, "inbox/burst/")) >= BURST,
        600,
        "every conversion",
        airflow,
        tick=_keep_uploading(emulator),
    )
    time.sleep(40)  # past the queue's visibility timeout: a redelivery would show by now
    stored, conversions = _stored_events(airflow, "inbox/burst/"), _conversions(emulator, "inbox/burst/")
    events = {key: [m for m, _ in found] for key, found in stored.items()}
    again = {k: ids for k, ids in events.items() if len(ids) > 1}
    twice = [k for k, n in conversions.items() if n > 1]
    before_kill = [found[0][1] - killed_at for found in stored.values() if found[0][1] <= killed_at]
    first_of_again = _span([stored[k][0][1] - killed_at for k in again])
    print(
        f"\nburst of {BURST}: {len(before_kill)} events stored before the SIGKILL, "
        f"{sum(1 for t in before_kill if t > -5)} of them in its last 5 s; {len(again)} messages made a "
        f"second asset event after it (their first stored {first_of_again} s from the kill); "
        f"{len(twice)} keys converted more than once"
        + (f"; {_marks_left(airflow)} marks left in the asset state store" if HAS_SHARED_STREAMS else "")
    )
    # Every upload's message deleted from the watcher queue (the PDFs' events, under outbox/, are
    # nobody's: they stay until the orphan grace).
    uploads = EventFilter.from_kwargs("oss", bucket=BUCKET, prefix="inbox/burst/")
    left = [
        m.message_id for m in emulator.mns.queue_messages(WATCH_QUEUE) if uploads.select(m.body, m.message_id)
    ]
    assert left == []
    # Nothing lost: an asset event and a conversion for every key; and none converted twice, though
    # a second asset event may reach a run that runs at the same moment as the first: the DAG's
    # claim in OSS (forbid-overwrite) lets one of them convert.
    assert set(events) == set(keys) and set(conversions) == set(keys)
    assert twice == []
    # A second asset event only for a message stored before the kill and delivered again after
    # it, never otherwise.
    assert all(len(ids) == 2 and len(set(ids)) == 1 for ids in again.values())
    if HAS_SHARED_STREAMS:
        # Airflow 3.3: never a second event for a message stored after the kill (a message back while
        # its events wait to be stored is not handed over again; a redelivery marked stored makes
        # none). Those stored before it and not deleted yet (the delete waits for Airflow's persist
        # confirmation: see the README) still come back: counted above, not asserted.
        assert [k for k in again if stored[k][0][1] > killed_at] == []


def _marks_left(airflow: AirflowDeployment) -> int:
    """Airflow 3.3: marks of messages still in flight or left behind by a kill."""
    return int(airflow.query("SELECT count(*) FROM asset_state_store WHERE key LIKE 'mns-message:%'")[0][0])


def _span(values: list[float]) -> str:
    return f"{min(values):.1f}..{max(values):.1f}" if values else "-"
