"""Upload -> DAG run queued: an MNS asset watcher against a DAG that lists the prefix every 60 s.

A real Airflow deployment (api-server, scheduler, dag-processor, triggerer as separate processes,
SQLite + LocalExecutor; ``tests/e2e/deployment.py``) against the emulator (in this process). Two
DAGs in the same deployment, measured in the same run:

* ``bench_on_upload``: scheduled on an asset whose watcher is ``MnsEventTrigger`` on the watcher
  queue (OSS event rule on ``bench/`` -> topic -> queue);
* ``bench_listing``: the way without us, scheduled every 60 s (it would list the prefix).

Objects are put through ``alibabacloud-oss-v2`` at ``--slow-rate`` uploads/s (``--slow-count``
uploads), then at ``--fast-rate`` (``--fast-count``). For each upload: the time from just before
its PutObject to the ``queued_at`` of the event DAG's run that consumed its asset event (Airflow's
metadata DB), and to the first ``bench_listing`` run queued after it. After a phase, one upload a
second elsewhere under ``bench/`` until every upload's run is queued (see ``_phase``). Also MNS
requests (emulator counters: receives, deletes, visibility changes) per event during each phase,
until its last message is deleted.

Prints the figures and whether the goals are met (event p99 < 2 s, <= 0.2 MNS requests per event
at the fast rate), and writes them to ``benchmarks/results/event_latency.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_results

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.e2e.deployment import MNS_TOPIC, AirflowDeployment
from tests.sdk_clients import oss_client_for

RESULTS = Path(__file__).with_name("results") / "event_latency.json"
GOALS = {"p99_s": 2.0, "mns_requests_per_event_fast": 0.2}
BUCKET = "bench-docs"
QUEUE = "bench-watch"
MNS_ACTIONS = (
    "BatchReceiveMessage",
    "ReceiveMessage",
    "BatchDeleteMessage",
    "DeleteMessage",
    "ChangeMessageVisibility",
)

DAGS = """
from datetime import datetime, timedelta
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, AssetWatcher
from airflow_provider_imm.triggers.mns_event import MnsEventTrigger

uploads = Asset(name="bench_uploads", uri="oss://{bucket}/bench/", watchers=[AssetWatcher(
    name="bench_watcher", trigger=MnsEventTrigger(mns_queue="{queue}", bucket="{bucket}", prefix="bench/"))])
with DAG(dag_id="bench_on_upload", schedule=[uploads], start_date=datetime(2026, 1, 1), catchup=False):
    EmptyOperator(task_id="convert")
with DAG(dag_id="bench_listing", schedule=timedelta(seconds=60), start_date=datetime(2026, 1, 1),
         catchup=False):
    EmptyOperator(task_id="list_prefix")
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slow-rate", type=float, default=1.0)
    parser.add_argument("--slow-count", type=int, default=60)
    parser.add_argument("--fast-rate", type=float, default=50.0)
    parser.add_argument("--fast-count", type=int, default=500)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="event-latency-"))
    dags = root / "dags"
    dags.mkdir()
    (dags / "bench.py").write_text(textwrap.dedent(DAGS.format(bucket=BUCKET, queue=QUEUE)))
    emulator = ImmEmulator(root / "oss", projects=(DEFAULT_PROJECT,)).start()
    connections = emulator.airflow_connections("imm_default", project=DEFAULT_PROJECT, mns_topic=MNS_TOPIC)
    # Active from their first parse: Airflow registers an asset's watchers when its DAG is parsed
    # unpaused (the deployment parses a file again only after 10 minutes).
    airflow = AirflowDeployment(
        root / "airflow",
        connections=connections,
        dags_folder=dags,
        extra_env={
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # The deployment turns schedules off; asset-triggered runs are created by the same code.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
        },
    )
    try:
        _setup(emulator, connections["imm_default"])
        airflow.start_all()
        airflow.wait_for_dags({"bench_on_upload", "bench_listing"})
        time.sleep(15)  # the watcher's trigger is assigned to the triggerer and polling
        phases = {
            "slow": _phase(emulator, airflow, "slow", args.slow_rate, args.slow_count),
            "fast": _phase(emulator, airflow, "fast", args.fast_rate, args.fast_count),
        }
        # The listing DAG's next run after the last upload.
        last_upload = max(max(p["uploads"].values()) for p in phases.values())
        _wait(
            lambda: any(q > last_upload for q in _listing_runs(airflow)),
            90,
            "a listing run after the uploads",
        )
        listing = _listing_runs(airflow)
        results: dict[str, Any] = {"goals": GOALS, "args": vars(args)}
        for name, phase in phases.items():
            results[name] = _figures(phase, listing)
    finally:
        airflow.stop()
        emulator.stop()
    results["goals_met"] = {
        "p99_s": all(results[p]["event"]["p99_s"] < GOALS["p99_s"] for p in phases),
        "mns_requests_per_event_fast": results["fast"]["mns_requests_per_event"]
        <= GOALS["mns_requests_per_event_fast"],
    }
    for name in phases:
        r = results[name]
        print(
            f"{name:>4} {r['rate']:>5.1f}/s x{r['count']:<4} event p50 {r['event']['p50_s']:.2f} s "
            f"p99 {r['event']['p99_s']:.2f} s | listing every 60 s p50 {r['listing']['p50_s']:.1f} s "
            f"p99 {r['listing']['p99_s']:.1f} s | MNS requests/event {r['mns_requests_per_event']:.3f} "
            f"| asset events {r['asset_events']} | queue drained {r['queue_drained_after_runs_s']:.0f} s "
            "after the last run"
        )
    print(f"goals met: {results['goals_met']}")
    write_results(RESULTS, results)
    return 0


def _setup(emulator: ImmEmulator, conn: str) -> None:
    import os

    import alibabacloud_oss_v2 as oss

    os.environ["AIRFLOW_CONN_IMM_DEFAULT"] = conn
    from airflow_provider_imm.cli import main as setup

    args = ["--watcher-queue", QUEUE, "--oss-bucket", BUCKET, "--oss-prefix", "bench/"]
    if setup(args) != 0:
        raise RuntimeError("imm-setup-notifications failed")
    oss_client_for(emulator).put_bucket(oss.PutBucketRequest(bucket=BUCKET))


def _phase(
    emulator: ImmEmulator, airflow: AirflowDeployment, name: str, rate: float, count: int
) -> dict[str, Any]:
    import alibabacloud_oss_v2 as oss

    client = oss_client_for(emulator)
    before = _mns_requests(emulator)
    uploads: dict[str, float] = {}
    start = time.time()
    for i in range(count):
        due = start + i / rate
        time.sleep(max(0.0, due - time.time()))
        key = f"bench/{name}/{i:05d}.docx"
        uploads[key] = time.time()
        client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=key, body=b"document"))
    # Airflow 3.3 gives an asset-triggered run the events stored up to the one that queued it; one
    # stored while the run is being created gets no run until the next event. Uploads go on (one a
    # second, elsewhere under bench/, not counted), as they would in use.
    flushes = iter(range(10**6))

    def consumed_all() -> bool:
        done = len(_consumed(airflow, f"bench/{name}/")) >= count
        if not done:
            key = f"bench/flush/{name}-{next(flushes):05d}.docx"
            client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=key, body=b"document"))
        return done

    _wait(consumed_all, 120, f"{name}: every upload's run", every=1.0)
    consumed_at = time.time()
    # Deleted once stored and (Airflow 3.3) marked in the asset state store: a mark is two calls
    # through the triggerer's supervisor, answered one at a time, so a burst drains for a while.
    _wait(lambda: _queue_empty(emulator), 600, f"{name}: every message deleted")
    drained_after = time.time() - consumed_at
    return {
        "name": name,
        "rate": rate,
        "count": count,
        "uploads": uploads,
        "consumed": _consumed(airflow, f"bench/{name}/"),
        "asset_events": _event_count(airflow, f"bench/{name}/"),
        "flush_uploads": next(flushes),
        "mns_requests": _mns_requests(emulator) - before,
        "queue_drained_after_runs_s": round(drained_after, 1),
    }


def _figures(phase: dict[str, Any], listing: list[float]) -> dict[str, Any]:
    uploads, consumed = phase["uploads"], phase["consumed"]
    event = [consumed[k] - t for k, t in uploads.items() if k in consumed]
    after = [min((q for q in listing if q >= t), default=float("nan")) - t for t in uploads.values()]
    return {
        "rate": phase["rate"],
        "count": phase["count"],
        "asset_events": phase["asset_events"],
        "event": _percentiles(event),
        "listing": _percentiles(after),
        "mns_requests": phase["mns_requests"],
        "queue_drained_after_runs_s": phase["queue_drained_after_runs_s"],
        # Every event the phase made, the flushing uploads' included.
        "mns_requests_per_event": phase["mns_requests"]
        / max(1, phase["asset_events"] + phase["flush_uploads"]),
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50_s": float("nan"), "p99_s": float("nan"), "max_s": float("nan")}
    return {
        "p50_s": round(statistics.median(ordered), 3),
        "p99_s": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
        "max_s": round(ordered[-1], 3),
    }


def _epoch(value: Any) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return float(value.timestamp())


def _consumed(airflow: AirflowDeployment, prefix: str) -> dict[str, float]:
    """Per key, the queued_at of the first event-DAG run that consumed one of its asset events."""
    rows = airflow.query(
        "SELECT e.extra, r.queued_at FROM asset_event e "
        "JOIN dagrun_asset_event d ON d.event_id = e.id JOIN dag_run r ON r.id = d.dag_run_id "
        "WHERE r.dag_id = 'bench_on_upload'"
    )
    found: dict[str, float] = {}
    for extra, queued_at in rows:
        key = str(
            ((json.loads(extra) if isinstance(extra, str) else extra).get("payload") or {}).get("key", "")
        )
        if key.startswith(prefix) and queued_at is not None:
            found[key] = min(found.get(key, float("inf")), _epoch(queued_at))
    return found


def _event_count(airflow: AirflowDeployment, prefix: str) -> int:
    rows = airflow.query("SELECT extra FROM asset_event")
    keys = [
        ((json.loads(e) if isinstance(e, str) else e).get("payload") or {}).get("key", "") for (e,) in rows
    ]
    return sum(1 for k in keys if str(k).startswith(prefix))


def _listing_runs(airflow: AirflowDeployment) -> list[float]:
    rows = airflow.query("SELECT queued_at FROM dag_run WHERE dag_id = 'bench_listing'")
    return sorted(_epoch(q) for (q,) in rows if q is not None)


def _mns_requests(emulator: ImmEmulator) -> int:
    return sum(emulator.counters.get("mns", action) for action in MNS_ACTIONS)


def _queue_empty(emulator: ImmEmulator) -> bool:
    import warnings

    from tests.sdk_clients import mns_account_for

    attributes = mns_account_for(emulator).get_queue(QUEUE).get_attributes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return int(attributes.active_messages) + int(attributes.inactive_messages) == 0


def _wait(check: Any, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


if __name__ == "__main__":
    sys.exit(main())
