"""N documents as N mapped conversions against ONE batch task, on a real deployment, in one run.

The deployment is the e2e one (:class:`tests.e2e.deployment.AirflowDeployment`: api-server,
scheduler, dag-processor and triggerer as separate processes) on PostgreSQL with, by default,
CeleryExecutor (two workers, Redis). Not LocalExecutor: with 1,000 mapped tasks queued its scheduler
deadlocked in a pipe write to its workers (apache/airflow#70526, open in 3.3.2; its workers also
take more than ``parallelism`` at once, #71914); not SQLite, whose single writer lost mapped tasks.
The emulator runs in this process, every IMM task taking ``--task-seconds`` (default 5) and
CreateOfficeConversionTask limited to ``--create-rate`` calls per second (default 50). Two DAGs over
the same ``--documents`` sources (default 1,000): ``imm_bench_mapped``
(``ImmOfficeConversionOperator.partial(...).expand(source_uri=...)``, the baseline) and
``imm_bench_batch`` (``ImmBatchOperator`` with ``submit_rate`` = the Create limit), run one after
the other.

Measured per run: wall seconds from the trigger call to the run's end; Airflow CPU seconds per
component (see :class:`CpuSampler`); metadata rows written (task instances and XComs of the DAG;
trigger rows, at most at once, sampled every 0.5 s, as fired triggers are deleted). The goals of
issue 16: batch wall <= ``documents / create_rate + task_seconds + 30``; batch CPU <= 5% of mapped.

Prints the figures and writes them as JSON (``--output``, default ``benchmarks/results/batch.json``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_results

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator

DAG_FILE = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_imm.operators.batch import ImmBatchOperator
from airflow_provider_imm.operators.imm import ImmOfficeConversionOperator

SOURCES = __SOURCES__
TARGET = "oss://bench-docs/out/{{ dag.dag_id }}/{barename}.{autoext}"
ARGS = {"start_date": datetime(2026, 1, 1), "schedule": None, "catchup": False}

with DAG("imm_bench_mapped", **ARGS):
    ImmOfficeConversionOperator.partial(task_id="convert", target_type="pdf", target_uri=TARGET).expand(
        source_uri=SOURCES
    )

with DAG("imm_bench_batch", **ARGS):
    ImmBatchOperator(
        task_id="convert",
        action="CreateOfficeConversionTask",
        request={"TargetType": "pdf", "TargetURI": TARGET},
        sources=SOURCES,
        manifest_uri="oss://bench-docs/manifests/batch.jsonl",
        submit_rate=__RATE__,
        submit_concurrency=8,
    )
"""


class CpuSampler:
    """CPU seconds per component, read before and after the run from every process of a component's
    session: its own time plus that of the children it reaped, so a task process that lived and died
    during the run is counted in the worker or supervisor that reaped it."""

    def __init__(self, sessions: dict[int, str]) -> None:
        self.sessions = sessions
        self.baseline: dict[int, tuple[str, float]] = {}
        self.readings: dict[int, tuple[str, float]] = {}

    def _read(self) -> dict[int, tuple[str, float]]:
        readings: dict[int, tuple[str, float]] = {}
        for proc in psutil.process_iter():
            try:
                component = self.sessions.get(os.getsid(proc.pid))
                if component is None:
                    continue
                if _is_worker(proc):
                    component = "workers"  # the executor's workers and the task processes they run
                t = proc.cpu_times()
                readings[proc.pid] = (component, t.user + t.system + t.children_user + t.children_system)
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue
        return readings

    def __enter__(self) -> CpuSampler:
        self.baseline = self._read()
        return self

    def __exit__(self, *_: object) -> None:
        self.readings = self._read()

    def seconds(self) -> dict[str, float]:
        spent: dict[str, float] = {}
        for pid, (component, total) in self.readings.items():
            before = self.baseline.get(pid, (component, 0.0))[1]
            spent[component] = spent.get(component, 0.0) + max(0.0, total - before)
        # A process of the first reading reaped during the run adds its whole life to its reaper's
        # children times: the part before the run is taken off again.
        for pid, (component, before) in self.baseline.items():
            if pid not in self.readings:
                spent[component] = max(0.0, spent.get(component, 0.0) - before)
        return {k: round(v, 2) for k, v in sorted(spent.items())}


def _is_worker(proc: psutil.Process) -> bool:
    title = " ".join(proc.cmdline())
    return any(word in title for word in ("LocalExecutor", "celery", "task", "supervisor"))


def _rows(airflow: Any, dag_id: str) -> dict[str, int]:
    (tis,) = airflow.query("SELECT count(*) FROM task_instance WHERE dag_id = :d", d=dag_id)[0]
    (xcoms,) = airflow.query("SELECT count(*) FROM xcom WHERE dag_id = :d", d=dag_id)[0]
    return {"task_instances": int(tis), "xcoms": int(xcoms)}


class TriggerRows:
    """The most trigger rows seen at once (rows are deleted once fired, and SQLite reuses ids)."""

    def __init__(self, airflow: Any) -> None:
        self.airflow = airflow
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                ((count,),) = self.airflow.query("SELECT count(*) FROM trigger")
            except Exception:
                continue  # the database is busy: next time
            self.peak = max(self.peak, int(count))

    def __enter__(self) -> TriggerRows:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _measure(airflow: Any, dag_id: str, timeout: float) -> dict[str, Any]:
    from tests.e2e.observe import wait_for_runs

    sessions = {service.pid: name for name, service in airflow.services.items()}
    before = _rows(airflow, dag_id)
    airflow.rest.unpause(dag_id)
    with CpuSampler(sessions) as cpu, TriggerRows(airflow) as triggers:
        start = time.monotonic()
        run_id = airflow.rest.trigger(dag_id, logical_date="2026-11-22T00:00:00Z")
        state = wait_for_runs(airflow, {dag_id: run_id}, timeout=timeout)[dag_id]
        wall = time.monotonic() - start
    after = _rows(airflow, dag_id)
    seconds = cpu.seconds()
    return {
        "state": state,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": seconds,
        "cpu_total": round(sum(seconds.values()), 2),
        "rows": {
            "task_instances": after["task_instances"] - before["task_instances"],
            "xcoms": after["xcoms"] - before["xcoms"],
            "triggers_at_once": triggers.peak,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--task-seconds", type=float, default=5.0)
    parser.add_argument("--create-rate", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/batch.json"))
    parser.add_argument(
        "--backend",
        choices=("postgres-celery", "postgres-local"),
        default="postgres-celery",
        help="CeleryExecutor by default: LocalExecutor's scheduler deadlocks dispatching 1,000 mapped tasks",
    )
    args = parser.parse_args()

    from tests.e2e.deployment import MNS_TOPIC, POSTGRES_CELERY, POSTGRES_LOCAL, AirflowDeployment

    root = Path(tempfile.mkdtemp(prefix="imm-bench-batch-"))
    emulator = ImmEmulator(
        root / "oss",
        task_duration=args.task_seconds,
        projects=(DEFAULT_PROJECT,),
        imm_rates={"CreateOfficeConversionTask": args.create_rate},
    ).start()
    sources = [f"oss://bench-docs/in/doc-{i:05d}.docx" for i in range(args.documents)]
    for uri in sources:
        emulator.oss.put("bench-docs", uri.split("/", 3)[3], b"document body")
    connections = emulator.airflow_connections("imm_default", project=DEFAULT_PROJECT, mns_topic=MNS_TOPIC)
    os.environ["AIRFLOW_CONN_IMM_DEFAULT"] = connections["imm_default"]
    from airflow_provider_imm.hooks.mns import MnsHook

    MnsHook("imm_default").ensure_notification_channel()
    dags = root / "dags"
    dags.mkdir()
    text = DAG_FILE.replace("__SOURCES__", repr(sources)).replace("__RATE__", repr(args.create_rate))
    (dags / "imm_bench.py").write_text(text)
    airflow = AirflowDeployment(
        root / "airflow",
        connections=connections,
        dags_folder=dags,
        backend=POSTGRES_CELERY if args.backend == "postgres-celery" else POSTGRES_LOCAL,
        extra_env={"AIRFLOW__CORE__PARALLELISM": "32", "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1000"},
    )
    results: dict[str, Any] = {"documents": args.documents, "task_seconds": args.task_seconds}
    results["create_rate"] = args.create_rate
    results["backend"] = args.backend
    try:
        airflow.start_all(triggerer_capacity=max(1000, args.documents + 10))
        airflow.wait_for_dags({"imm_bench_mapped", "imm_bench_batch"})
        results["mapped"] = _measure(airflow, "imm_bench_mapped", args.timeout)
        results["batch"] = _measure(airflow, "imm_bench_batch", args.timeout)
    finally:
        airflow.stop()
        emulator.stop()
    ideal = args.documents / args.create_rate + args.task_seconds
    mapped, batch = results["mapped"], results["batch"]
    results["ideal_seconds"] = round(ideal, 1)
    results["goals"] = {
        "batch_wall_within_ideal_plus_30s": batch["wall_seconds"] <= ideal + 30,
        "batch_cpu_at_most_5pct_of_mapped": batch["cpu_total"] <= 0.05 * mapped["cpu_total"],
    }
    results["cpu_ratio"] = round(batch["cpu_total"] / mapped["cpu_total"], 4) if mapped["cpu_total"] else None
    for name in ("mapped", "batch"):
        run = results[name]
        print(
            f"{name:>6}: {run['state']}, wall {run['wall_seconds']} s, Airflow CPU {run['cpu_total']} s "
            f"{run['cpu_seconds']}, rows {run['rows']}"
        )
    print(f"ideal {ideal:.1f} s; batch CPU / mapped CPU = {results['cpu_ratio']}; goals {results['goals']}")
    write_results(args.output, results)


if __name__ == "__main__":
    main()
