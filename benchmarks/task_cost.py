"""What one IMM task costs a task process: CPU seconds and imported modules, each in a fresh process.

Scenarios, all in one run, each in a fresh interpreter (``--repeat`` times; the median is reported):

* ``noop``: a no-op Airflow task (a ``@task`` returning None): the baseline;
* ``first``: our operator's first execution, up to the deferral (CreateOfficeConversionTask and
  GetTask against the emulator, then ``TaskDeferred``);
* ``resume``: its resume, ``execute_complete`` with the trigger's event;
* ``trigger-poll`` and ``trigger-mns``: a triggerer's first ``ImmTaskCompletedTrigger`` for that task
  (ended by then), up to its event: polling GetTask, or registered with the shared MNS listener (which
  reconciles with GetTask at once); CPU and modules after what a triggerer has loaded (the Task SDK,
  ``airflow.triggers.base``);
* each ``...-sdk``: the same with ``AIRFLOW_PROVIDER_IMM_TRANSPORT=sdk`` (the official IMM SDK client,
  the previous path), as the comparison.

Each child first imports what a forked Airflow 3 task process has already loaded (the Task SDK's task
runner and supervisor), then parses a DAG file holding the task, renders its templated fields and
runs it with a context holding what the operator reads (``ti`` with in-memory XCom, ``dag_run``).
Measured: ``work_cpu``, CPU seconds (user + system) from after those imports to the end, which is what
the task adds to a forked process;
``process_cpu``, the whole interpreter's; modules imported by the work, and SDK modules among them.

Goals (issue 17): first execution <= 0.15 CPU-s over the no-op task, resume <= 0.02 over it.
Prints the figures and writes ``benchmarks/results/task_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from _common import EmulatorProcess, write_results

PROJECT = "bench-project"
CONN_ID = "imm_bench"
QUEUE = "bench-imm-queue"
RESULTS = Path(__file__).parent / "results"
GOALS = {"first": 0.15, "resume": 0.02}

DAG_FILES = {
    "noop": """
        from airflow.sdk import DAG, task

        with DAG("task_cost_noop", schedule=None) as dag:
            @task
            def noop():
                return None

            TASK = noop()
    """,
    "imm": """
        from airflow.sdk import DAG
        from airflow_provider_imm.operators.imm import ImmOfficeConversionOperator

        with DAG("task_cost_imm", schedule=None) as dag:
            TASK = ImmOfficeConversionOperator(
                task_id="convert",
                imm_conn_id="CONN_ID",
                source_uri="oss://bench/in/doc.docx",
                target_type="pdf",
                target_uri="oss://bench/out/{barename}.pdf",
            )
    """.replace("CONN_ID", CONN_ID),
}

TRIGGER_CHILD = """
import asyncio, json, os, resource, sys

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

# What the triggerer process has loaded already.
import airflow.sdk
import airflow.triggers.base
base_cpu, base_modules = cpu(), set(sys.modules)

task_id, queue = sys.argv[1], sys.argv[2] or None
from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger

async def first_event():
    trigger = ImmTaskCompletedTrigger(
        task_id=task_id, task_type="OfficeConversion", imm_conn_id=sys.argv[3], mns_queue=queue,
        poll_interval=0.05,
    )
    async for event in trigger.run():
        return event.payload

payload = asyncio.run(first_event())
end_cpu = cpu()
added = sorted(set(sys.modules) - base_modules)
sdk = {"Tea", "alibabacloud_credentials", "alibabacloud_imm20200930", "alibabacloud_tea_openapi",
       "alibabacloud_tea_util", "darabonba", "mns"}
print(json.dumps(dict(
    status=payload["status"],
    work_cpu=end_cpu - base_cpu,
    process_cpu=end_cpu,
    modules=len(sys.modules),
    modules_added=len(added),
    sdk_modules=sum(1 for m in added if m.partition(".")[0] in sdk),
)), flush=True)
os._exit(0)  # the shared listener's threads end with the process
"""

CHILD = """
import json, resource, sys, time

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

# What a task process forked by the Task SDK's supervisor has loaded already.
import airflow.sdk.execution_time.supervisor
import airflow.sdk.execution_time.task_runner
base_cpu, base_modules = cpu(), set(sys.modules)

scenario, dag_file = sys.argv[1], sys.argv[2]
import importlib.util
spec = importlib.util.spec_from_file_location("task_cost_dag", dag_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
op = module.TASK.operator if hasattr(module.TASK, "operator") else module.TASK


class TaskInstance:
    dag_id, task_id, run_id, map_index, try_number = "d", "convert", "manual__bench", 0, 1

    def __init__(self):
        self.xcom = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value

    def xcom_pull(self, task_ids=None, key=None, map_indexes=None):
        return self.xcom.get(key)


class DagRun:
    start_date = None


ti = TaskInstance()
context = {"ti": ti, "task_instance": ti, "dag_run": DagRun(), "run_id": ti.run_id}
result = {}
op.render_template_fields(context)  # as the task runner does before execute and execute_complete
if scenario == "noop":
    op.execute(context)
elif scenario == "first":
    from airflow.sdk.exceptions import TaskDeferred
    try:
        op.execute(context)
        raise SystemExit("the operator did not defer")
    except TaskDeferred as deferred:
        result["task_id"] = deferred.trigger.imm_task_id
else:
    event = json.loads(sys.argv[3])
    result["xcom"] = op.execute_complete(context, event)

end_cpu = cpu()
added = sorted(set(sys.modules) - base_modules)
sdk = {"Tea", "alibabacloud_credentials", "alibabacloud_imm20200930", "alibabacloud_tea_openapi",
       "alibabacloud_tea_util", "darabonba", "mns"}
result.update(
    work_cpu=end_cpu - base_cpu,
    process_cpu=end_cpu,
    modules=len(sys.modules),
    modules_added=len(added),
    sdk_modules=sum(1 for m in added if m.partition(".")[0] in sdk),
)
print(json.dumps(result))
"""


def run_child(scenario: str, dag_file: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    code, args = (
        (TRIGGER_CHILD, extra) if scenario == "trigger" else (CHILD, (scenario, str(dag_file), *extra))
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{scenario} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("work_cpu", "process_cpu", "modules", "modules_added", "sdk_modules")
    return {key: round(statistics.median(r[key] for r in runs), 4) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per scenario (median)")
    args = parser.parse_args()

    from airflow_provider_imm.emulator.server import emulator_connection
    from airflow_provider_imm.hooks.imm import ImmHook
    from airflow_provider_imm.hooks.mns import MnsHook
    from airflow_provider_imm.outcome import ImmTaskOutcome

    with (
        EmulatorProcess(projects=[PROJECT], task_duration=3600) as emulator,
        tempfile.TemporaryDirectory() as tmp,
    ):
        emulator.put_object("bench", "in/doc.docx", b"a document")
        conn = emulator_connection(emulator.url, project=PROJECT, mns_queue=QUEUE)
        env = {**os.environ, f"AIRFLOW_CONN_{CONN_ID.upper()}": conn}
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = conn
        files = {}
        for name, source in DAG_FILES.items():
            files[name] = Path(tmp) / f"task_cost_{name}.py"
            files[name].write_text(textwrap.dedent(source))
        transports = {"": {**env, "AIRFLOW_PROVIDER_IMM_TRANSPORT": "rpc"}}
        transports["-sdk"] = {**env, "AIRFLOW_PROVIDER_IMM_TRANSPORT": "sdk"}

        runs: dict[str, list[dict[str, Any]]] = {"noop": []}
        hook = ImmHook(CONN_ID)
        MnsHook(CONN_ID).ensure_notification_channel()
        for _ in range(args.repeat):
            runs["noop"].append(run_child("noop", files["noop"], env))
            for suffix, child_env in transports.items():
                first = run_child("first", files["imm"], child_env)
                runs.setdefault(f"first{suffix}", []).append(first)
                task_id = first["task_id"]
                emulator.admin("POST", f"/_emulator/imm/tasks/{task_id}/finish", {"status": "Succeeded"})
                info = hook.get_task(PROJECT, "OfficeConversion", task_id)
                event = ImmTaskOutcome.from_task_info(
                    info, task_id=task_id, task_type="OfficeConversion", project=PROJECT
                ).to_event()
                runs.setdefault(f"resume{suffix}", []).append(
                    run_child("resume", files["imm"], child_env, json.dumps(event))
                )
                for waiting, queue in (("poll", ""), ("mns", QUEUE)):
                    runs.setdefault(f"trigger-{waiting}{suffix}", []).append(
                        run_child("trigger", files["imm"], child_env, task_id, queue, CONN_ID)
                    )

    figures = {name: median_of(found) for name, found in runs.items()}
    noop = figures["noop"]["work_cpu"]
    for figure in figures.values():
        figure["work_cpu_over_noop"] = round(figure["work_cpu"] - noop, 4)
    verdicts = {
        scenario: {
            "goal_cpu_over_noop": goal,
            "measured": figures[scenario]["work_cpu_over_noop"],
            "met": figures[scenario]["work_cpu_over_noop"] <= goal,
            "sdk_path": figures[f"{scenario}-sdk"]["work_cpu_over_noop"],
        }
        for scenario, goal in GOALS.items()
    }
    header = ("scenario", "work CPU s", "over no-op", "process CPU s", "modules", "added", "SDK")
    print("{:<16} {:>10} {:>10} {:>13} {:>8} {:>6} {:>5}".format(*header))
    for name, f in figures.items():
        print(
            f"{name:<16} {f['work_cpu']:>10.3f} {f['work_cpu_over_noop']:>10.3f} {f['process_cpu']:>13.3f} "
            f"{f['modules']:>8.0f} {f['modules_added']:>6.0f} {f['sdk_modules']:>5.0f}"
        )
    for scenario, verdict in verdicts.items():
        print(
            f"goal {scenario}: <= {verdict['goal_cpu_over_noop']} CPU-s over the no-op task: "
            f"{verdict['measured']:.3f} ({'met' if verdict['met'] else 'NOT met'}; "
            f"SDK path {verdict['sdk_path']:.3f})"
        )
    write_results(
        RESULTS / "task_cost.json",
        {"repeat": args.repeat, "figures": figures, "goals": verdicts, "python": sys.version.split()[0]},
    )


if __name__ == "__main__":
    main()
