"""Every kind of bad input fails the Airflow task before any IMM call, naming the field and the fix.

One DAG, one task per kind, run for real: each task fails on its first try although it has retries
(a request cannot fix itself), and the emulator saw no IMM call at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.operators.imm import ImmInvalidRequestError
from tests.emulated_imm import Imm
from tests.operators.airflow_env import DagRunResult

DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

GOOD = {"SourceURI": "oss://docs/in/report.docx", "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf"}
CASES = {
    "unknown_field": ("CreateOfficeConversionTask", {**GOOD, "TargetUri": "oss://out/x.pdf"}),
    "missing_required": (
        "CreateOfficeConversionTask",
        {"SourceURI": "oss://docs/in/report.docx", "TargetURI": "oss://out/{barename}.pdf"},
    ),
    "http_url": (
        "CreateOfficeConversionTask",
        {**GOOD, "SourceURI": "http://docs.oss-cn-hangzhou.aliyuncs.com/in/report.docx"},
    ),
    "endpoint_host": (
        "CreateOfficeConversionTask",
        {**GOOD, "SourceURI": "oss://docs.oss-cn-hangzhou.aliyuncs.com/in/report.docx"},
    ),
    "variable_not_offered": (
        "CreateImageToPDFTask",
        {"Sources": [{"URI": "oss://docs/a.jpg"}], "TargetURI": "oss://out/{barname}.pdf"},
    ),
    "tag_missing": ("CreateOfficeConversionTask", {**GOOD, "TargetURI": "oss://out/{tags.team}/{barename}.pdf"}),
    "tags_not_offered": (
        "CreateFileCompressionTask",
        {"Sources": [{"URI": "oss://docs/a.jpg"}], "TargetURI": "oss://out/{tags.team}.zip"},
    ),
    "unbalanced_braces": ("CreateOfficeConversionTask", {**GOOD, "TargetURI": "oss://out/{barename.pdf"}),
    "jinja_leftover": (
        "CreateOfficeConversionTask",
        {**GOOD, "TargetURI": "oss://out/{% raw %}{{ ds }}{% endraw %}/{barename}.pdf"},
    ),
    "reserved_tag": ("CreateOfficeConversionTask", {**GOOD, "Tags": {"airflow-ti": "mine"}}),
}

with DAG("bad_input", schedule=None, default_args=DEFAULT_ARGS) as dag:
    for name, (action, request) in CASES.items():
        ImmCreateTaskOperator(
            task_id=name, imm_conn_id=__CONN__, action=action, request=request, retries=2
        )
    ImmCreateTaskOperator(
        task_id="no_project",
        imm_conn_id=__NO_PROJECT_CONN__,
        action="CreateOfficeConversionTask",
        request=GOOD,
        retries=2,
    )
"""

#: Values no JSON text holds, as a rendered template can produce them (native rendering, macros):
#: each must fail as the cases above do, not as an error of Airflow's that is retried.
RENDERED_DAG_FILE = """
from datetime import timedelta

from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

GOOD = {"SourceURI": "oss://docs/in/report.docx", "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf"}


def cyclic():
    loop = []
    loop.append(loop)
    return {"team": loop}


def deep():
    value = []
    for _ in range(5000):
        value = [value]
    return {"team": value}


def nan():
    return float("nan")


CASES = {
    "nested_mixed_keys": {**GOOD, "Tags": {"team": "a", 1: "b"}},
    "cycle": {**GOOD, "Tags": "{{ cyclic() }}"},
    "deep_nesting": {**GOOD, "Tags": "{{ deep() }}"},
    "nan": {**GOOD, "Quality": "{{ nan() }}"},
    "lone_surrogate": {**GOOD, "TargetURI": "oss://out/\\ud800{barename}.pdf"},
}

with DAG(
    "bad_input_rendered",
    schedule=None,
    default_args=DEFAULT_ARGS,
    render_template_as_native_obj=True,
    user_defined_macros={"cyclic": cyclic, "deep": deep, "nan": nan},
) as dag:
    for name, request in CASES.items():
        ImmCreateTaskOperator(
            task_id=name,
            imm_conn_id=__CONN__,
            action="CreateOfficeConversionTask",
            request=request,
            retries=2,
            retry_delay=timedelta(seconds=1),  # so that a retry, were there one, would not stall the test
        )
    # A mapped task is rendered through its unmapped copy: the same check must run there.
    ImmCreateTaskOperator.partial(
        task_id="nan_mapped",
        imm_conn_id=__CONN__,
        action="CreateOfficeConversionTask",
        retries=2,
        retry_delay=timedelta(seconds=1),
    ).expand(request=[CASES["nan"]])
"""

#: task -> (field the error names first, text of the fix it gives).
EXPECTED = {
    "unknown_field": ("TargetUri", "did you mean 'TargetURI'?"),
    "missing_required": ("TargetType", "is required by CreateOfficeConversionTask: set TargetType"),
    "http_url": ("SourceURI", "is an HTTP URL, not an OSS URI: IMM takes the bucket and key, write "
                 "'oss://docs/in/report.docx'"),
    "endpoint_host": ("SourceURI", "names an OSS endpoint host instead of a bucket: write "
                      "'oss://docs/in/report.docx'"),
    "variable_not_offered": ("TargetURI", "did you mean '{barename}'?"),
    "tag_missing": ("TargetURI", "the request has no tag 'team'"),
    "tags_not_offered": ("TargetURI", "this operation takes no Tags: remove the tag variable"),
    "unbalanced_braces": ("TargetURI", "unbalanced braces"),
    "jinja_leftover": ("TargetURI", "contains Jinja markup '{{ ds }}' that Airflow did not render"),
    "reserved_tag": ("Tags.airflow-ti", "is written by the operator to recognise retries: remove it"),
    "nested_mixed_keys": ("Tags[1]", "keys must be strings, got int: write '1'"),
    "cycle": ("Tags.team", "- Tags.team[0]: contains itself: pass a tree of objects and lists"),
    "deep_nesting": ("Tags.team", "is nested more than 32 levels deep"),
    "nan": ("Quality", "is not a finite number (nan): pass a number, or leave the field out"),
    "lone_surrogate": ("TargetURI", "contains a lone surrogate '\\ud800' at character 10"),
}  # fmt: skip
EXPECTED["nan_mapped[0]"] = EXPECTED["nan"]


#: Every structlog entry of the module's DAG run (Airflow's Task SDK and Execution API log there).
LOGS: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, airflow_home: Path) -> Iterator[tuple[Imm, DagRunResult]]:
    """The DAG run once for the module: every test below looks at one of its tasks."""
    with ImmEmulator(tmp_path_factory.mktemp("oss")) as emulator, pytest.MonkeyPatch.context() as mp:
        imm = Imm(emulator, airflow_home, mp)
        imm.conn_id = imm.connection()
        with structlog.testing.capture_logs() as logs:
            result = imm.run(DAG_FILE, no_project_conn=imm.connection(project=None))
            rendered = imm.run(RENDERED_DAG_FILE)
        LOGS[:] = logs
        yield imm, DagRunResult(rendered.state, {**result.tasks, **rendered.tasks})


@pytest.fixture
def result(run: tuple[Imm, DagRunResult]) -> DagRunResult:
    return run[1]


def test_no_imm_call_was_made(run: tuple[Imm, DagRunResult]) -> None:
    imm, result = run
    assert result.state == "failed"
    assert {task.state for task in result.tasks.values()} == {"failed"}
    assert len(result.tasks) == len(EXPECTED) + 1
    assert imm.emulator.counters.total("imm") == 0


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_each_kind_names_the_field_and_the_fix_without_retrying(result: DagRunResult, task: str) -> None:
    run = result[task]
    assert run.state == "failed"
    assert run.try_number == 1
    (error,) = run.errors
    assert isinstance(error, ImmInvalidRequestError)
    field, fix = EXPECTED[task]
    assert error.field == field
    assert f"- {field}: " in str(error)
    assert fix in str(error)


def test_a_missing_project_is_named_before_any_call(result: DagRunResult) -> None:
    run = result["no_project"]
    (error,) = run.errors
    assert isinstance(error, AirflowFailException)
    assert "no IMM project: pass project=... or set extra 'project'" in str(error)
    assert run.try_number == 1


def test_the_console_link_has_nothing_to_show_and_says_nothing(result: DagRunResult) -> None:
    # No IMM task was submitted: the link is empty, and no "XCom not found" error follows the failure.
    assert {run.xcoms.get("_link_ImmConsoleLink") for run in result.tasks.values()} == {""}
    errors = [entry for entry in LOGS if entry.get("log_level") in ("error", "critical")]
    assert not [entry for entry in errors if "xcom" in str(entry).lower()], errors[:3]
