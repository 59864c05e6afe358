"""What importing the operator costs a DAG file, over ``import airflow.sdk``: median of fresh interpreters.

Each run is a new ``python -c`` that imports ``airflow.sdk`` (as every DAG file does), then
``airflow_provider_imm.operators.imm``, timing each import inside the process (``perf_counter``
and CPU ``process_time``), so the second figure is what the operator adds, free of interpreter
start-up. Runs alternate with the baseline, the same imports followed by the trigger module
``airflow_provider_imm.triggers.imm`` (which pulls in ``airflow.triggers.base``): what the operator
cost while it imported the trigger for two default constants. One warm-up run of each comes first
(bytecode caches).

Prints the medians and writes them to ``benchmarks/results/import_cost.json``. Target: the
operator's median under 25 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import write_results

GOAL_MS = 25.0
OPERATOR = "airflow_provider_imm.operators.imm"
TRIGGER = "airflow_provider_imm.triggers.imm"
_CHILD = """
import importlib, json, sys, time
def timed(name):
    wall, cpu = time.perf_counter(), time.process_time()
    importlib.import_module(name)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
sdk = timed("airflow.sdk")
extra = [timed(name) for name in sys.argv[1:]]
print(json.dumps({
    "sdk_ms": sdk[0], "sdk_cpu_ms": sdk[1],
    "added_ms": sum(w for w, _ in extra), "added_cpu_ms": sum(c for _, c in extra),
    "trigger_loaded": "airflow.triggers.base" in sys.modules,
}))
"""


def _run(modules: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *modules], capture_output=True, text=True, check=True, timeout=120
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _medians(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("sdk_ms", "sdk_cpu_ms", "added_ms", "added_cpu_ms")
    return {key: round(statistics.median(row[key] for row in rows), 2) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per variant")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results/import_cost.json")
    args = parser.parse_args()

    variants = {"operator": [OPERATOR], "baseline_with_trigger": [OPERATOR, TRIGGER]}
    for modules in variants.values():
        _run(modules)  # warm-up: bytecode caches, file system caches
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, modules in variants.items():
            rows[name].append(_run(modules))

    operator, baseline = _medians(rows["operator"]), _medians(rows["baseline_with_trigger"])
    results = {
        "runs": args.runs,
        "goal_ms": GOAL_MS,
        "import_airflow_sdk_ms": operator["sdk_ms"],
        "operator": {
            **operator,
            "imports_airflow_triggers": any(row["trigger_loaded"] for row in rows["operator"]),
        },
        "baseline_with_trigger": baseline,
        "operator_under_goal": operator["added_ms"] < GOAL_MS,
    }
    print(f"import airflow.sdk: median {operator['sdk_ms']:.1f} ms ({args.runs} fresh interpreters each)")
    triggers = results["operator"]["imports_airflow_triggers"]
    print(
        f"+ {OPERATOR}: median {operator['added_ms']:.1f} ms wall, {operator['added_cpu_ms']:.1f} ms CPU "
        f"(goal < {GOAL_MS:g} ms); airflow.triggers imported: {triggers}"
    )
    print(
        f"+ the same and {TRIGGER} (the former shape): median {baseline['added_ms']:.1f} ms wall, "
        f"{baseline['added_cpu_ms']:.1f} ms CPU"
    )
    write_results(args.output, results)


if __name__ == "__main__":
    main()
