"""The batch's pure parts: item planning, what a retry submits, the policy, the manifest, the summary."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.catalog import get_operation
from airflow_provider_imm.operators.batch_plan import (
    BATCH_TAG,
    ITEM_TAG,
    MAX_FAILURES_LISTED,
    MAX_ITEMS_LISTED,
    SOURCE_KEY,
    ItemResult,
    batch_key,
    batchable,
    fails_batch,
    item_results,
    latest_per_item,
    manifest_lines,
    plan_items,
    still_to_submit,
    summarize,
)
from airflow_provider_imm.operators.task_identity import IDENTITY_TAG, REQUEST_TAG, TaskInstanceIdentity
from airflow_provider_imm.utils.request_validation import InvalidRequestError

OFFICE = get_operation("CreateOfficeConversionTask")
MEDIA = get_operation("CreateMediaConvertTask")
TEMPLATE = {"TargetType": "pdf", "TargetURI": "oss://out/{barename}.{autoext}"}
ME = TaskInstanceIdentity("dag", "convert", "run-1")


def plan(
    sources: list[Any], template: dict[str, Any] | None = None, operation: Any = OFFICE, **kw: Any
) -> Any:
    return plan_items(
        operation,
        TEMPLATE if template is None else template,
        sources,
        project="p",
        identity=ME,
        batch="b1",
        **kw,
    )


def test_each_item_carries_identity_batch_item_request_hash_and_source() -> None:
    (item,) = plan(["oss://docs/a.docx"], notification={"MNS": {"TopicName": "t"}})
    tags = item.request["Tags"]
    assert tags[IDENTITY_TAG] == ME.key and tags[BATCH_TAG] == "b1" and tags[ITEM_TAG] == item.key
    assert tags[REQUEST_TAG] == item.fingerprint
    assert item.request["SourceURI"] == "oss://docs/a.docx"
    assert json.loads(item.request["UserData"]) == {SOURCE_KEY: "oss://docs/a.docx"}
    assert item.request["Notification"] == {"MNS": {"TopicName": "t"}}


def test_an_action_with_sources_gets_a_one_item_list_and_user_data_is_merged() -> None:
    template = {
        "Targets": [{"URI": "oss://out/{barename}.mp4", "Container": "mp4"}],
        "UserData": '{"team":"a"}',
    }
    (item,) = plan(["oss://vids/a.mov"], template, MEDIA)
    assert item.request["Sources"] == [{"URI": "oss://vids/a.mov"}]
    assert json.loads(item.request["UserData"]) == {"team": "a", SOURCE_KEY: "oss://vids/a.mov"}


def test_keys_and_hashes_are_stable_and_distinct() -> None:
    first = plan([f"oss://docs/{i}.docx" for i in range(50)])
    again = plan([f"oss://docs/{i}.docx" for i in range(50)])
    assert [i.key for i in first] == [i.key for i in again]
    assert len({i.key for i in first}) == 50 and len({i.fingerprint for i in first}) == 50


def test_batch_key_changes_with_the_cycle_and_the_instance() -> None:
    other = TaskInstanceIdentity("dag", "convert", "run-2")
    assert batch_key(ME, 1) == batch_key(ME, 1)
    assert len({batch_key(ME, 1), batch_key(ME, 3), batch_key(other, 1)}) == 3


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({**TEMPLATE, "SourceURI": "oss://docs/x.docx"}, "SourceURI"),
        ({**TEMPLATE, "Tags": {BATCH_TAG: "x"}}, f"Tags.{BATCH_TAG}"),
        ({**TEMPLATE, "Tags": {IDENTITY_TAG: "x"}}, f"Tags.{IDENTITY_TAG}"),
        ({**TEMPLATE, "UserData": "not json"}, "UserData"),
        ({**TEMPLATE, "UserData": json.dumps({SOURCE_KEY: 1})}, f"UserData.{SOURCE_KEY}"),
    ],
)
def test_a_bad_template_names_its_field(template: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        plan(["oss://docs/a.docx"], template)
    assert caught.value.field == field


def test_every_bad_item_is_named_with_its_index_source_and_field() -> None:
    sources = ["oss://docs/a.docx", "oss://docs/" + "x" * 2000, None, "oss://docs/a.docx", "s3://d/b.docx"]
    with pytest.raises(InvalidRequestError) as caught:
        plan(sources)
    fields = [p.field for p in caught.value.problems]
    assert fields[0].startswith("item 1 ('oss://docs/xxx") and "characters)" in fields[0]
    assert fields[1:] == [
        "item 2 (NoneType) source",
        "item 3 ('oss://docs/a.docx') source",
        "item 4 ('s3://d/b.docx') SourceURI",
    ]
    assert len(str(caught.value)) < 2000  # a 2,000-character source is quoted as an excerpt


def test_too_many_bad_items_are_counted_not_listed() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        plan([f"http://d/{i}" for i in range(MAX_ITEMS_LISTED + 7)])
    assert caught.value.problems[-1].message == "7 more items are invalid"


def test_user_data_too_long_with_the_source_is_an_item_error() -> None:
    template = {**TEMPLATE, "UserData": json.dumps({"pad": "x" * 2000})}
    with pytest.raises(InvalidRequestError) as caught:
        plan(["oss://docs/a-long-enough-name-to-pass-the-limit.docx"], template)
    assert caught.value.problems[0].field.endswith("UserData")


def test_empty_sources_and_unbatchable_actions() -> None:
    with pytest.raises(InvalidRequestError, match="sources: is empty"):
        plan([])
    assert batchable(get_operation("CreateFileCompressionTask"))  # no Tags
    assert batchable(OFFICE) is None and batchable(MEDIA) is None


def _task(key: str, status: str, start: str, request: str = "r", task_id: str = "") -> dict[str, Any]:
    return {
        "TaskId": task_id or f"T-{key}-{start}",
        "Status": status,
        "StartTime": start,
        "Tags": {ITEM_TAG: key, REQUEST_TAG: request},
    }


def test_latest_per_item_takes_the_newest_by_time_not_by_string() -> None:
    old = _task("a", "Failed", "2024-01-01T00:00:05.3Z")
    new = _task("a", "Running", "2024-01-01T00:00:06Z")
    assert latest_per_item([new, old])["a"]["TaskId"] == new["TaskId"]
    assert latest_per_item([old, new, {"TaskId": "x", "Tags": None}]) == {"a": new}


def test_a_retry_submits_items_without_a_task_with_a_failed_one_or_another_request() -> None:
    items = plan(
        [
            "oss://docs/a.docx",
            "oss://docs/b.docx",
            "oss://docs/c.docx",
            "oss://docs/e.docx",
            "oss://docs/f.docx",
        ]
    )
    a, b, c, e, f = items
    latest = {
        a.key: _task(a.key, "Succeeded", "t", a.fingerprint),
        b.key: _task(b.key, "Running", "t", b.fingerprint),
        c.key: _task(c.key, "Failed", "t", c.fingerprint),
        e.key: _task(e.key, "Succeeded", "t", "another request"),
    }
    assert still_to_submit(items, latest) == [c, e, f]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["Succeeded", "Running", "Failed", None]), min_size=1, max_size=30))
def test_still_to_submit_is_exactly_the_items_without_a_live_task(statuses: list[str | None]) -> None:
    items = plan([f"oss://docs/{i}.docx" for i in range(len(statuses))])
    latest = {i.key: _task(i.key, s, "t", i.fingerprint) for i, s in zip(items, statuses, strict=True) if s}
    todo = still_to_submit(items, latest)
    assert [i.index for i in todo] == [i for i, s in enumerate(statuses) if s in (None, "Failed")]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["any", "ratio", "never"]),
    st.floats(0, 0.99),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
)
def test_policy(policy: Any, ratio: float, total: int, failed: int) -> None:
    failed = min(failed, total)
    decision = fails_batch(policy, ratio, total, failed)
    if policy == "never" or failed == 0:
        assert not decision
    elif policy == "any":
        assert decision
    else:
        assert decision == (failed / total > ratio)


def test_item_results_rebuild_sources_outputs_and_missing_items() -> None:
    items = plan(["oss://docs/in/a.docx", "oss://docs/in/b.docx"])
    tasks = [
        {**_task(items[0].key, "Succeeded", "t"), "UserData": items[0].request["UserData"]},
        {**_task(items[1].key, "Failed", "t"), "UserData": items[1].request["UserData"], "Code": "BadDoc"},
    ]
    results = item_results(OFFICE, TEMPLATE, tasks, expected=3)
    by_source = {r.source: r for r in results}
    assert by_source["oss://docs/in/a.docx"].outputs == ("oss://out/a.pdf",)
    assert (
        by_source["oss://docs/in/b.docx"].status == "Failed"
        and by_source["oss://docs/in/b.docx"].code == "BadDoc"
    )
    assert by_source[""].status == "Missing" and by_source[""].task_id is None


def test_summary_is_bounded_and_counts_codes() -> None:
    results = [ItemResult(f"oss://docs/{i}", f"T{i}", "Failed", code="BadDoc") for i in range(5000)]
    results += [ItemResult("oss://docs/ok", "T", "Succeeded"), ItemResult("oss://docs/r", "R", "Running")]
    summary = summarize(results, manifest="oss://mani/x.jsonl")
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["not_ended"]) == (
        5002,
        1,
        5000,
        1,
    )
    assert summary["failure_codes"] == {"BadDoc": 5000, "Running": 1}
    assert len(summary["failures"]) == MAX_FAILURES_LISTED
    assert len(json.dumps(summary)) < 3000


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(max_size=40), st.sampled_from(["Succeeded", "Failed", "Running"]), st.text(max_size=20)
        )
    )
)
def test_manifest_lines_are_one_json_object_per_item(rows: list[tuple[str, Any, str]]) -> None:
    results = [
        ItemResult(source, "T", status, code=code, outputs=("oss://outs/x",)) for source, status, code in rows
    ]
    lines = list(manifest_lines(results))
    assert len(lines) == len(results) and all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert [json.loads(line) for line in lines] == [r.to_json() for r in results]
