"""ImmBatchOperator in real Airflow task runs (``dag.test()``) against the emulator.

Mixed outcomes come from the emulator itself: a conversion whose source object does not exist ends
Failed, as on IMM. Each test counts what IMM received: Create*Task calls, and tasks per item (the
``airflow-batch`` and ``airflow-item`` tags every item's task carries).
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections import Counter
from typing import Any

from airflow_provider_imm.exceptions import ImmInvalidRequestError
from airflow_provider_imm.operators.batch import ImmBatchFailedError
from airflow_provider_imm.operators.batch_plan import BATCH_TAG, ITEM_TAG
from tests.emulated_imm import Imm
from tests.operators.airflow_env import TaskRun, dag_source, run_dag_file_then_clear
from tests.oss_objects import get_object

HEADER = """
import datetime
from airflow.sdk import DAG
from airflow_provider_imm.operators.batch import ImmBatchOperator
from tests.operators.dag_support import DEFAULT_ARGS

TEMPLATE = {"TargetType": "pdf", "TargetURI": "oss://out/{{ ds }}/{barename}.{autoext}"}
FAST = {
    "submit_rate": 2000.0,
    "submit_concurrency": 4,
    "reconcile_interval": 2.0,
    "poll_interval": 1.0,
    "retry_delay": datetime.timedelta(seconds=0),
}
"""
#: A DAG of one ImmBatchOperator: ``__OPTIONS__`` (a dict) and ``__EXTRA__`` (Python text, for
#: options that name the DAG file's own functions) are its further keyword arguments.
ONE_BATCH = """
with DAG(__DAG_ID__, schedule=None, default_args=DEFAULT_ARGS) as dag:
    ImmBatchOperator(
        task_id="convert",
        imm_conn_id=__CONN__,
        action="CreateOfficeConversionTask",
        request=TEMPLATE,
        **{**FAST, **__OPTIONS__},
        __EXTRA__
    )
"""
ITEMS = 200
MISSING = 30


def batch_dag(dag_id: str, *, prelude: str = "", extra: str = "", **options: object) -> str:
    """The DAG file's text after the header: ``prelude`` (functions), then :data:`ONE_BATCH`."""
    return textwrap.dedent(prelude) + ONE_BATCH.replace("__DAG_ID__", repr(dag_id)).replace(
        "__OPTIONS__", repr(options)
    ).replace("__EXTRA__", extra)


def run_batch(imm: Imm, dag_id: str, *, prelude: str = "", extra: str = "", **options: object) -> TaskRun:
    return imm.run(batch_dag(dag_id, prelude=prelude, extra=extra, **options), header=HEADER)["convert"]


def _sources(imm: Imm, prefix: str, *, missing: int = MISSING) -> list[str]:
    """``ITEMS`` source URIs under ``prefix``; the last ``missing`` have no object, so IMM fails them."""
    sources = [f"oss://docs/{prefix}/doc-{i:03d}.docx" for i in range(ITEMS)]
    for uri in sources[: ITEMS - missing]:
        imm.put(uri, b"a document")
    return sources


def _tasks_per_item(imm: Imm) -> Counter[tuple[str, str]]:
    return Counter(
        (t["Tags"][BATCH_TAG], t["Tags"][ITEM_TAG]) for t in imm.tasks() if BATCH_TAG in (t["Tags"] or {})
    )


def _batch_of(imm: Imm, source: str) -> set[str]:
    return {
        t["Tags"][BATCH_TAG] for t in imm.tasks() if json.loads(t["UserData"]).get("airflow-source") == source
    }


def test_a_batch_of_200_makes_one_task_per_item_and_honours_each_policy(imm: Imm) -> None:
    sources = _sources(imm, "mixed")
    result = imm.run(
        """
        with DAG("batch_policies", schedule=None, default_args=DEFAULT_ARGS) as dag:
            for policy, ratio in (("any", 0.0), ("ratio", 0.2), ("ratio", 0.1), ("never", 0.0)):
                ImmBatchOperator(
                    task_id=f"convert_{policy}_{int(ratio * 100)}",
                    imm_conn_id=__CONN__,
                    action="CreateOfficeConversionTask",
                    request=TEMPLATE,
                    sources=__SOURCES__,
                    failure_policy=policy,
                    max_failure_ratio=ratio,
                    max_xcom_manifest=500,
                    **FAST,
                )
        """,
        header=HEADER,
        sources=sources,
    )
    assert imm.creates() == 4 * ITEMS
    per_item = _tasks_per_item(imm)
    assert len(per_item) == 4 * ITEMS and set(per_item.values()) == {1}

    (any_error,) = result["convert_any_0"].errors
    assert result["convert_any_0"].state == "failed"
    assert isinstance(any_error, ImmBatchFailedError)
    assert any_error.summary["failed"] == MISSING and any_error.summary["succeeded"] == ITEMS - MISSING
    assert result["convert_ratio_10"].state == "failed"  # 15% failed > 10%
    for ok in ("convert_ratio_20", "convert_never_0"):
        run = result[ok]
        assert run.state == "success", run.errors
        summary = run.xcom
        assert (summary["total"], summary["succeeded"], summary["failed"]) == (
            ITEMS,
            ITEMS - MISSING,
            MISSING,
        )
        assert summary["submitted"] == ITEMS and summary["reused"] == 0
        assert summary["manifest"] == "xcom:manifest"
        assert set(summary["failure_codes"]) and len(summary["failures"]) == 20
        manifest = run.xcoms["manifest"]
        assert sorted(line["source"] for line in manifest) == sorted(sources)
        failed = {line["source"] for line in manifest if line["status"] == "Failed"}
        assert failed == set(sources[ITEMS - MISSING :])
        done = next(line for line in manifest if line["source"] == sources[0])
        assert done["outputs"] == ["oss://out/2024-03-09/doc-000.pdf"] and done["task_id"]
    # One deferral: the return value is the summary, the row count is bounded.
    assert len(json.dumps(result["convert_never_0"].xcom)) < 5000


def test_a_retry_after_partial_failure_resubmits_exactly_the_failed_items(imm: Imm) -> None:
    sources = _sources(imm, "retry")
    run = run_batch(
        imm,
        "batch_retry",
        prelude=f"""
        def upload_missing(context):
            from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

            hook = OSSHook(oss_conn_id="oss_default")
            for uri in {sources[ITEMS - MISSING :]!r}:
                hook.load_string(uri.split("/", 3)[3], "now it exists", bucket_name="docs")
        """,
        extra='on_retry_callback=[DEFAULT_ARGS["on_retry_callback"], upload_missing],',
        sources=sources,
        manifest_uri="oss://docs/manifests/{{ ds }}.jsonl",
        retries=1,
    )
    assert run.state == "success" and run.try_number == 2, run.errors
    assert imm.creates() == ITEMS + MISSING
    summary = run.xcom
    assert (summary["submitted"], summary["reused"], summary["succeeded"]) == (
        MISSING,
        ITEMS - MISSING,
        ITEMS,
    )
    resubmitted = Counter(t["Tags"][ITEM_TAG] for t in imm.tasks())
    assert sum(resubmitted.values()) == ITEMS + MISSING and Counter(resubmitted.values()) == {1: 170, 2: 30}
    lines = get_object(imm.emulator, "oss://docs/manifests/2024-03-09.jsonl").decode().splitlines()
    assert summary["manifest"] == "oss://docs/manifests/2024-03-09.jsonl"
    assert sorted(json.loads(line)["source"] for line in lines) == sorted(sources)
    assert {json.loads(line)["status"] for line in lines} == {"Succeeded"}


def test_a_try_stopped_mid_submission_then_retried_submits_each_item_at_most_once(imm: Imm) -> None:
    sources = _sources(imm, "killed", missing=0)
    stop_after = 80

    def break_submission() -> None:
        # The 81st Create*Task is refused for good: the first try ends there, as a killed worker would,
        # with the Creates in flight landing in IMM after it.
        deadline = time.monotonic() + 60
        while imm.creates() < stop_after and time.monotonic() < deadline:
            time.sleep(0.001)
        imm.emulator.faults.fail_imm(1, status=403, code="Forbidden.AccessDenied")

    watcher = threading.Thread(target=break_submission, daemon=True)
    watcher.start()
    run = run_batch(imm, "batch_killed", sources=sources, max_xcom_manifest=500, retries=1, submit_rate=200.0)
    watcher.join()
    assert run.state == "success" and run.try_number == 2, run.errors
    assert "Forbidden.AccessDenied" in str(run.errors[0])
    summary: dict[str, Any] = run.xcom
    assert stop_after <= summary["reused"] < ITEMS and summary["reused"] + summary["submitted"] == ITEMS
    per_item = _tasks_per_item(imm)
    assert len(per_item) == ITEMS and set(per_item.values()) == {1}
    assert summary["succeeded"] == ITEMS


def test_bad_items_fail_the_task_before_any_imm_call_naming_item_and_field(imm: Imm) -> None:
    sources = ["oss://docs/ok/a.docx", "http://docs/b.docx", "oss://docs/ok/a.docx", 42]
    run = run_batch(imm, "batch_bad_items", sources=sources, retries=2)
    assert run.state == "failed" and run.try_number == 1
    (error,) = run.errors
    assert isinstance(error, ImmInvalidRequestError)
    text = str(error)
    assert "item 1 ('http://docs/b.docx') SourceURI" in text
    assert "item 2 ('oss://docs/ok/a.docx') source: repeats item 0" in text
    assert "item 3 (int) source: must be an OSS URI string" in text
    assert (
        sum(
            imm.emulator.counters.snapshot().get(k, 0)
            for k in imm.emulator.counters.snapshot()
            if k.startswith("imm:")
        )
        == 0
    )
    assert _batch_of(imm, sources[0]) == set()


def test_a_prefix_is_listed_with_oss_hook_and_every_item_reaches_lineage(imm: Imm) -> None:
    for i in range(12):
        imm.put(f"oss://docs/backlog/{i:02d}.docx", b"a document")
    imm.put("oss://docs/backlog/notes.txt", b"not a document")
    run = run_batch(imm, "batch_prefix", source_prefix="oss://docs/backlog/", source_suffixes=[".docx"])
    assert run.state == "success", run.errors
    assert run.xcom["succeeded"] == 12 and imm.creates() == 12
    sources = sorted(line["source"] for line in run.xcoms["manifest"])
    assert sources == [f"oss://docs/backlog/{i:02d}.docx" for i in range(12)]


def test_lineage_names_every_item_s_source_and_output() -> None:
    from airflow_provider_imm.operators.batch import ImmBatchOperator

    op = ImmBatchOperator(
        task_id="t",
        action="CreateOfficeConversionTask",
        request={"TargetType": "pdf", "TargetURI": "oss://out/x/{barename}.pdf"},
        sources=["oss://docs/a.docx", "oss://docs/b.docx"],
    )
    op._lineage_sources = ["oss://docs/a.docx", "oss://docs/b.docx"]
    lineage = op.get_openlineage_facets_on_complete(None)
    assert lineage is not None
    assert [d.name for d in lineage.inputs] == ["a.docx", "b.docx"]
    assert [d.name for d in lineage.outputs] == ["x/a.pdf", "x/b.pdf"]


def test_without_the_oss_extra_a_prefix_fails_naming_the_extra(imm: Imm, monkeypatch: Any) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "airflow.providers.alibaba.cloud.hooks.oss", None)
    run = run_batch(imm, "batch_no_extra", source_prefix="oss://docs/backlog/", retries=2)
    assert run.state == "failed" and run.try_number == 1
    assert "pip install 'airflow-provider-imm[oss]'" in str(run.errors[0])
    assert imm.creates() == 0


def test_a_cleared_batch_submits_every_item_anew(imm: Imm) -> None:
    sources = [f"oss://docs/cleared/{i}.docx" for i in range(10)]
    for uri in sources:
        imm.put(uri)
    source = dag_source(HEADER) + batch_dag("batch_cleared", sources=sources, retries=1).replace(
        "__CONN__", repr(imm.conn_id)
    )
    before, after = run_dag_file_then_clear(imm.home, source, clear="convert")
    assert before["convert"].state == "success" and after["convert"].state == "success", after[
        "convert"
    ].errors
    assert imm.creates() == 20
    assert after["convert"].xcom["submitted"] == 10 and after["convert"].xcom["reused"] == 0
    assert before["convert"].xcom["batch"] != after["convert"].xcom["batch"]


def test_sources_from_an_upstream_xcom(imm: Imm) -> None:
    sources = [f"oss://docs/upstream/{i}.docx" for i in range(5)]
    for uri in sources:
        imm.put(uri)
    result = imm.run(
        """
        from airflow.sdk import task

        with DAG("batch_from_xcom", schedule=None, default_args=DEFAULT_ARGS) as dag:

            @task
            def find() -> list[str]:
                return __SOURCES__

            ImmBatchOperator(
                task_id="convert",
                imm_conn_id=__CONN__,
                action="CreateOfficeConversionTask",
                request=TEMPLATE,
                sources=find(),
                **FAST,
            )
        """,
        header=HEADER,
        sources=sources,
    )
    run = result["convert"]
    assert run.state == "success", run.errors
    assert sorted(line["source"] for line in run.xcoms["manifest"]) == sources
    assert imm.creates() == 5


def test_a_retry_that_finds_every_item_ended_completes_without_waiting(imm: Imm) -> None:
    """The first try's deadline passes while IMM still runs the items; by the retry all have ended,
    so it submits nothing, does not defer, and writes the XCom manifest from what IMM reports."""
    # Far beyond the deadline, even where a try takes seconds to start (Airflow 3.2's dag.test()).
    imm.emulator.imm.task_duration = 15.0
    sources = [f"oss://docs/late/{i}.docx" for i in range(10)]
    for uri in sources:
        imm.put(uri)
    run = run_batch(
        imm,
        "batch_retry_all_ended",
        prelude="""
        def wait_until_every_item_ended(context):
            import time

            from airflow_provider_imm.hooks.imm import ImmHook

            batch = context["ti"].xcom_pull(task_ids="convert", key="batch")["batch"]
            hook, deadline = ImmHook(__CONN__), time.monotonic() + 60
            while time.monotonic() < deadline:
                tasks = hook.find_tasks({"airflow-batch": batch})
                if len(tasks) == 10 and all(t["Status"] == "Succeeded" for t in tasks):
                    return
                time.sleep(0.2)
            raise AssertionError("the batch's IMM tasks did not end within 60 s")
        """,
        extra='on_retry_callback=[DEFAULT_ARGS["on_retry_callback"], wait_until_every_item_ended],',
        sources=sources,
        timeout=0.2,
        retries=1,
    )
    assert run.state == "success" and run.try_number == 2, run.errors
    assert "10 of 10 items did not succeed (Running x10)" in str(run.errors[0])
    assert imm.creates() == 10
    assert (run.xcom["submitted"], run.xcom["reused"], run.xcom["succeeded"]) == (0, 10, 10)
    manifest = run.xcoms["manifest"]
    assert sorted(line["source"] for line in manifest) == sorted(sources)
    assert {line["status"] for line in manifest} == {"Succeeded"}
