"""Every example DAG parses, quickly, without importing the IMM, MNS or OSS SDK.

Parsed in a fresh interpreter, as the dag-processor does, so that modules other tests imported do
not hide a DAG file that imports an SDK at parse time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.deployment import EXAMPLE_DAG_IDS, EXAMPLE_DAGS, REPO

_PARSE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.monotonic()
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "dag_ids": sorted(bag.dag_ids),
    "import_errors": {str(k): v for k, v in bag.import_errors.items()},
    "seconds": time.monotonic() - started,
    "sdk_modules": sorted(m for m in sys.modules if m.split(".")[0] in
                          ("alibabacloud_imm20200930", "alibabacloud_tea_openapi", "mns", "darabonba",
                           "alibabacloud_oss_v2")
                          or m.startswith("airflow.providers.alibaba.cloud.hooks")),
    "tasks": {d: sorted(t.task_id for t in bag.dags[d].tasks) for d in bag.dag_ids},
}))
"""


def _parse(tmp_path: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(
        [sys.executable, "-c", _PARSE, str(EXAMPLE_DAGS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_example_dags_parse_without_errors_and_without_the_sdks(tmp_path: Path) -> None:
    result = _parse(tmp_path)
    assert result["import_errors"] == {}
    assert result["dag_ids"] == sorted(EXAMPLE_DAG_IDS)
    # DAG files are parsed every few minutes, by every dag-processor: the SDKs load only at run time.
    assert result["sdk_modules"] == []
    assert isinstance(result["seconds"], float) and result["seconds"] < 10
    tasks = result["tasks"]
    assert isinstance(tasks, dict) and all(tasks.values())
