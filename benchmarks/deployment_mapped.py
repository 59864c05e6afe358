"""N mapped conversions in a real Airflow deployment: the SDK path against the lean path, in one run.

For each path (``AIRFLOW_PROVIDER_IMM_TRANSPORT=sdk``, then ``rpc``), a fresh deployment of the
e2e harness (``tests/e2e/deployment.py``: api-server, scheduler, dag-processor, triggerer as separate
``airflow`` processes; PostgreSQL, LocalExecutor with ``--parallelism`` slots) and a fresh emulator (in
this process, every IMM task taking ``--duration`` seconds) run one DAG run of
``ImmCreateTaskOperator.partial(...).expand(request=[N requests])``: each mapped task submits, defers,
and resumes when the MNS notification arrives. Measured from the trigger of the run to its end: wall
time, and the CPU seconds (user + system) of every process of the deployment, task processes
included (they are reaped by their supervisors, so their time is in their parents' ``children``
times), per document. The provider's bytecode is compiled first, as pip installs it.

Goal (issue 17): the lean path at least 1.8x faster in wall time. Prints the figures and writes
``benchmarks/results/deployment_mapped.json``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import write_results

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator  # noqa: E402
from tests.e2e.deployment import MNS_TOPIC, POSTGRES_LOCAL, AirflowDeployment  # noqa: E402
from tests.e2e.rest import FINAL_RUN_STATES, RestError  # noqa: E402
from tests.oss_objects import put_object  # noqa: E402

DAG_ID = "imm_mapped_conversions"
SOURCE = "oss://bench/in/report.docx"
RESULTS = Path(__file__).parent / "results"
GOAL_SPEEDUP = 1.8

DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator

with DAG("DAG_ID", schedule=None, max_active_tasks=1024) as dag:
    ImmCreateTaskOperator.partial(task_id="convert", action="CreateOfficeConversionTask").expand(
        request=[
            {"SourceURI": "SOURCE", "TargetType": "pdf", "TargetURI": f"oss://bench/out/{i}/{{barename}}.pdf"}
            for i in range(COUNT)
        ]
    )
"""


def deployment_cpu(deployment: AirflowDeployment) -> float:
    """CPU seconds of every live process of the deployment and of the children they reaped."""
    total = 0.0
    for proc in deployment.processes():
        try:
            times = proc.cpu_times()
        except Exception:  # exited meanwhile: its time is in its parent's children times
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _error_lines(logs: Path) -> set[str]:
    """Distinct error lines of the task logs, to say why a task failed."""
    found: set[str] = set()
    for path in logs.glob("dag_id=*/**/*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if "Error" in line and ("error" in line.lower()[:200]):
                found.add(line[-300:])
    return found


def wait_for_run(deployment: AirflowDeployment, run_id: str, timeout: float) -> str:
    """The run's final state; a busy api-server's passing error is asked again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = deployment.rest.run_state(DAG_ID, run_id)
        except RestError:
            state = "unknown"
        if state in FINAL_RUN_STATES:
            return state
        time.sleep(1.0)
    raise TimeoutError(f"DAG run {run_id} not finished after {timeout:.0f} s")


def run_path(transport: str, count: int, parallelism: int, duration: float, root: Path) -> dict[str, Any]:
    dags = root / "dags"
    dags.mkdir(parents=True)
    source = DAG_FILE.replace("DAG_ID", DAG_ID).replace("SOURCE", SOURCE).replace("COUNT", str(count))
    (dags / "mapped_conversions.py").write_text(textwrap.dedent(source))
    emulator = ImmEmulator(root / "oss", task_duration=duration, projects=(DEFAULT_PROJECT,)).start()
    put_object(emulator, SOURCE, b"a document")
    connections = emulator.airflow_connections("imm_default", project=DEFAULT_PROJECT, mns_topic=MNS_TOPIC)
    extra_env = {
        "AIRFLOW_PROVIDER_IMM_TRANSPORT": transport,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(count, parallelism)),
    }
    deployment = AirflowDeployment(
        root / "airflow",
        connections=connections,
        dags_folder=dags,
        extra_env=extra_env,
        backend=POSTGRES_LOCAL,
    )
    try:
        os.environ["AIRFLOW_CONN_IMM_DEFAULT"] = connections["imm_default"]
        from airflow_provider_imm.hooks.mns import MnsHook

        MnsHook("imm_default").ensure_notification_channel()
        deployment.start_all()
        deployment.wait_for_dags({DAG_ID})
        deployment.rest.unpause(DAG_ID)
        cpu_before = deployment_cpu(deployment)
        started = time.monotonic()
        run_id = deployment.rest.trigger(DAG_ID, logical_date=None)
        state = wait_for_run(deployment, run_id, timeout=3600)
        wall = time.monotonic() - started
        cpu = deployment_cpu(deployment) - cpu_before
        states: dict[str, int] = {}
        for ti in deployment.rest.task_instances(DAG_ID, run_id):
            states[str(ti.get("state"))] = states.get(str(ti.get("state")), 0) + 1
        errors = sorted(_error_lines(root / "airflow" / "logs"))[:5] if set(states) != {"success"} else []
    finally:
        deployment.stop()
        emulator.stop()
    return {
        "run_state": state,
        "task_states": states,
        "wall_seconds": round(wall, 1),
        "airflow_cpu_seconds": round(cpu, 1),
        "cpu_seconds_per_document": round(cpu / count, 3),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--parallelism", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds each IMM task runs")
    args = parser.parse_args()

    import airflow_provider_imm

    compileall.compile_dir(Path(airflow_provider_imm.__file__).parent, quiet=1)
    results: dict[str, Any] = {
        "count": args.count,
        "parallelism": args.parallelism,
        "duration": args.duration,
    }
    with tempfile.TemporaryDirectory(prefix="imm-deploy-bench-") as tmp:
        for transport in ("sdk", "rpc"):
            print(f"== {transport} path: {args.count} mapped conversions ...", flush=True)
            results[transport] = run_path(
                transport, args.count, args.parallelism, args.duration, Path(tmp) / transport
            )
            print(results[transport], flush=True)
    sdk, rpc = results["sdk"], results["rpc"]
    speedup = sdk["wall_seconds"] / rpc["wall_seconds"] if rpc["wall_seconds"] else 0.0
    results["speedup"] = round(speedup, 2)
    results["goal"] = {"speedup_at_least": GOAL_SPEEDUP, "met": speedup >= GOAL_SPEEDUP}
    print(f"{'path':<6} {'wall s':>8} {'Airflow CPU s':>14} {'CPU s / document':>17}  run")
    for name in ("sdk", "rpc"):
        r = results[name]
        print(
            f"{name:<6} {r['wall_seconds']:>8.1f} {r['airflow_cpu_seconds']:>14.1f} "
            f"{r['cpu_seconds_per_document']:>17.3f}  {r['run_state']} {r['task_states']}"
        )
    print(
        f"speedup {speedup:.2f}x (goal >= {GOAL_SPEEDUP}x: {'met' if speedup >= GOAL_SPEEDUP else 'NOT met'})"
    )
    write_results(RESULTS / "deployment_mapped.json", results)


if __name__ == "__main__":
    main()
