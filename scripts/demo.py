"""The nightly document conversion DAG on a real Airflow deployment, against the embedded emulator.

What happens, all on 127.0.0.1, nothing left running afterwards:

1. The emulator (IMM + MNS + OSS) starts. Its connections, ``imm_default`` and ``oss_default``
   (``ImmEmulator.airflow_connections()``, as ``AIRFLOW_CONN_*``), are all Airflow needs.
2. Three documents are uploaded to its OSS inbox through the Alibaba provider's ``OSSHook``, and
   the ``imm`` connection sets up the MNS topic, queue and subscription
   (``MnsHook.ensure_notification_channel``).
3. Airflow 3 starts as separate processes: api-server, scheduler (LocalExecutor), dag-processor and
   triggerer, with ``example_dags/`` as the DAGs folder (the deployment harness of the e2e test).
4. ``imm_nightly_document_conversion`` is triggered through the REST API. It lists the inbox through
   OSS and maps over what it finds: each conversion submits an IMM task and defers; the emulator
   keeps each IMM task running until its Airflow task is seen deferred with its trigger started in
   the triggerer, then ends it. IMM's notification reaches the trigger through MNS, and the Airflow
   task resumes on a worker. The DAG then reads every PDF back through OSS and moves the documents
   to ``processed/``.
5. A summary: the documents the DAG found; per document, the IMM task, its status, its outputs as
   read back through OSS, and how long after the IMM task ended the trigger fired and the Airflow
   task resumed; where the documents were filed.

Exits non-zero if the run or any check failed. ``--keep`` keeps the Airflow home and the emulator's
OSS folder (logs, database, outputs) for a look afterwards; they are kept on failure anyway.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

DAG_ID = "imm_nightly_document_conversion"
TASK_ID = "convert_to_pdf"
BUCKET = "imm-demo-docs"
#: What lands in the DAG's default inbox (``inbox/``): the demo runs the example DAG unchanged.
DOCUMENTS = ["quarterly-report.docx", "board-minutes.docx", "price-list.xlsx"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the Airflow home and OSS folder")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="imm-demo-"))
    # This process reads the connection through Airflow too (to set up MNS): give it a home of its own.
    os.environ["AIRFLOW_HOME"] = str(workdir / "client")
    ok = False
    try:
        ok = run(workdir)
    finally:
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"\nAirflow home, logs and the emulator's OSS folder: {workdir}")
    print("\nDEMO OK" if ok else "\nDEMO FAILED")
    return 0 if ok else 1


def run(workdir: Path) -> bool:
    from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
    from tests.e2e.deployment import MNS_TOPIC, AirflowDeployment
    from tests.e2e.emulator_admin import EmulatorAdmin
    from tests.e2e.observe import release_when_deferred

    started = time.monotonic()
    with ImmEmulator(workdir / "oss") as emulator:
        step(f"Emulator listening: IMM + MNS on {emulator.url}, OSS on {emulator.oss_url}")
        connections = emulator.airflow_connections(
            "imm_default", project=DEFAULT_PROJECT, mns_topic=MNS_TOPIC
        )
        for conn_id, value in connections.items():
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
        step(f"Connections for Airflow: {', '.join(connections)}")
        from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

        for name in DOCUMENTS:
            OSSHook(oss_conn_id="oss_default").load_string(
                f"oss://{BUCKET}/inbox/{name}", f"contents of {name}"
            )
        step(f"Uploaded {len(DOCUMENTS)} documents to oss://{BUCKET}/inbox/ through OSSHook")
        admin = EmulatorAdmin(emulator.url)
        admin.hold("CreateOfficeConversionTask")
        from airflow_provider_imm.hooks.mns import MnsHook

        channel = MnsHook("imm_default").ensure_notification_channel()
        route = f"topic {channel.topic!r} -> subscription {channel.subscription!r} -> queue {channel.queue!r}"
        step(f"MNS channel: {route}")

        airflow = AirflowDeployment(workdir / "airflow", connections=connections)
        try:
            step(f"Starting Airflow: api-server on {airflow.url}, scheduler, dag-processor, triggerer ...")
            airflow.start_all()
            airflow.wait_for_dags({DAG_ID})
            step(f"Airflow is up ({time.monotonic() - started:.0f} s); DAG {DAG_ID!r} parsed")
            airflow.rest.unpause(DAG_ID)
            logical_date = datetime.combine(date.today(), datetime.min.time(), timezone.utc).replace(hour=2)
            run_id = airflow.rest.trigger(DAG_ID, logical_date=logical_date.isoformat())
            step(f"Triggered run {run_id} through the REST API; waiting for the conversions to defer ...")
            released = release_when_deferred(
                airflow, admin, {DAG_ID: run_id}, {DAG_ID: {TASK_ID}}, settle=1.0, timeout=600
            )
            state = airflow.rest.run_state(DAG_ID, run_id)
            step(f"Run finished: {state} ({time.monotonic() - started:.0f} s since the start)")
            found = _xcom(airflow, run_id, "find_documents", [])
            read_back = _xcom(airflow, run_id, "check_outputs", {}).get("outputs", {})
            filed = _xcom(airflow, run_id, "file_documents", [])
            rows = summarize(airflow, run_id, released, found, read_back)
        finally:
            airflow.stop()
        if airflow.survivors:
            print(f"Processes left running: {airflow.survivors}")
        left = emulator.oss.list(BUCKET, "inbox/")
    print(f"\nFound in oss://{BUCKET}/inbox/ by the DAG (OSSHook, ListObjectsV2):")
    for uri in found:
        print(f"  {uri}")
    print_table(rows)
    print("\nFiled away by the DAG (CopyObject, then DeleteMultipleObjects):")
    for uri in filed:
        print(f"  {uri}")
    problems = [f"run state is {state!r}"] if state != "success" else []
    problems += [f"{row['document']}: {problem}" for row in rows for problem in row["problems"]]
    problems += ["some Airflow processes survived"] if airflow.survivors else []
    expected = sorted(f"oss://{BUCKET}/inbox/{name}" for name in DOCUMENTS)
    if found != expected:
        problems.append(f"the DAG found {found}, expected {expected}")
    if len(rows) != len(DOCUMENTS):
        problems.append(f"{len(rows)} conversions seen deferred, {len(DOCUMENTS)} expected")
    if len(filed) != len(DOCUMENTS) or left:
        problems.append(f"{len(filed)} documents filed away, {left} left in the inbox")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return not problems


def summarize(
    airflow: Any, run_id: str, released: dict[Any, Any], found: list[str], read_back: dict[str, int]
) -> list[dict[str, Any]]:
    """One row per conversion, from XCom (the DAG's own read-back through OSS included) and the
    trigger and task logs."""
    from tests.e2e.observe import fired_events, resumed_at

    rows = []
    for key, deferral in sorted(released.items(), key=lambda item: item[0][2]):
        result = airflow.rest.xcom(DAG_ID, run_id, TASK_ID, map_index=key[2])
        fired = fired_events(airflow, run_id, key).get(deferral.triggerer_job, [])
        resumed = resumed_at(airflow, run_id, key)
        ended = datetime.fromisoformat(result["end_time"]) if result.get("end_time") else None
        problems = []
        if result.get("status") != "Succeeded":
            problems.append(f"IMM status {result.get('status')!r}")
        outputs = {uri: read_back.get(uri) for uri in result.get("output_uris", [])}
        if not outputs or not all(outputs.values()):
            problems.append(f"outputs not read back through OSS: {outputs or 'none reported'}")
        if not fired:
            problems.append("no event fired by the trigger in the triggerer")
        if resumed is None:
            problems.append("the task did not resume after its deferral")
        rows.append(
            {
                "document": found[key[2]].rsplit("/", 1)[-1] if key[2] < len(found) else str(key[2]),
                "imm_task_id": result.get("task_id", deferral.imm_task_id),
                "status": result.get("status"),
                "outputs": outputs,
                "triggerer_job": deferral.triggerer_job,
                "source": fired[0].payload.get("source") if fired else None,
                "fired_after": _seconds(ended, fired[0].at if fired else None),
                "resumed_after": _seconds(ended, resumed),
                "problems": problems,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    for row in rows:
        print(f"{row['document']}")
        print(f"  IMM task        {row['imm_task_id']}")
        print(f"  status          {row['status']}")
        for uri, size in row["outputs"].items():
            print(f"  output          {uri} (read back through OSS: {size} bytes)")
        print(
            f"  trigger         fired {_fmt(row['fired_after'])} after IMM ended, "
            f"on the {row['source']} (triggerer job {row['triggerer_job']})"
        )
        print(f"  Airflow task    resumed {_fmt(row['resumed_after'])} after IMM ended")


def step(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def _xcom(airflow: Any, run_id: str, task_id: str, missing: Any) -> Any:
    """A task's result, or ``missing`` when it has none (it failed or was skipped)."""
    from tests.e2e.rest import RestError

    try:
        return airflow.rest.xcom(DAG_ID, run_id, task_id)
    except RestError as err:
        if err.status != 404:
            raise
        return missing


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _fmt(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:.2f} s"


if __name__ == "__main__":
    sys.exit(main())
