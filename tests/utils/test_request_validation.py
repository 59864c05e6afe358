"""Request validation: every mistake is caught before any API call, with the field and the fix."""

from __future__ import annotations

import ast
import copy
import importlib.util
import inspect
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.catalog import OPERATIONS, get_operation
from airflow_provider_imm.utils.request_validation import (
    AIRFLOW_CONTEXT_NAMES,
    MAX_USER_DATA_BYTES,
    InvalidRequestError,
    validate_request,
)
from tests.minimal_requests import DOC, LOGO, MINIMAL, PHOTO, VIDEO

#: Optional fields the minimal requests leave out, set here to show that they pass as well.
OPTIONAL: dict[str, dict[str, Any]] = {
    "CreateFileCompressionTask": {"Sources": [{"URI": DOC, "Alias": "/report.docx"}, {"URI": PHOTO}]},
    "CreateImageToPDFTask": {"Sources": [{"URI": PHOTO}, {"URI": LOGO, "Rotate": 90}]},
    "CreateVideoModerationTask": {"Scenes": ["porn", "terrorism"]},
    "CreateCompressPointCloudTask": {"PointCloudFields": ["xyz"], "KdtreeOption": {"CompressionLevel": 5}},
    "CreateHighlightTask": {"Sources": [{"URI": VIDEO, "StartTime": 1.5}]},
    "CreateDecodeBlindWatermarkTask": {"OriginalImageURI": "oss://in-bucket/images/original.png"},
}
#: A valid request for every operation.
VALID: dict[str, dict[str, Any]] = {
    action: {**minimal.request, **OPTIONAL.get(action, {})} for action, minimal in MINIMAL.items()
}
COMMON = {"Notification": {"MNS": {"TopicName": "imm-events"}}, "ProjectName": "proj", "UserData": '{"k": 1}'}


def problems(action: str, request: Any, **kwargs: Any) -> dict[str, str]:
    """``{field: message}`` of the error ``validate_request`` raises."""
    with pytest.raises(InvalidRequestError) as info:
        validate_request(get_operation(action), request, **kwargs)
    err = info.value
    assert err.field == err.problems[0].field
    lines = str(err).splitlines()
    assert lines[0] == f"{get_operation(action).action} request is invalid:"
    assert lines[1:] == [f"- {p.field}: {p.message}" for p in err.problems]
    return {p.field: p.message for p in err.problems}


def with_(action: str, **changes: Any) -> dict[str, Any]:
    request = copy.deepcopy(VALID[action])
    for key, value in changes.items():
        if value is None:
            request.pop(key, None)
        else:
            request[key] = value
    return request


def test_the_table_covers_every_operation() -> None:
    assert set(VALID) == set(OPERATIONS)


@pytest.mark.parametrize("action", sorted(VALID))
def test_valid_requests_pass(action: str) -> None:
    validate_request(OPERATIONS[action], VALID[action])
    common = {
        k: v
        for k, v in COMMON.items()
        if not (k == "UserData" and action == "CreateDecodeBlindWatermarkTask")
    }
    validate_request(OPERATIONS[action], {**VALID[action], **common}, project="proj")


def test_error_type() -> None:
    assert issubclass(InvalidRequestError, ValueError)


def test_request_must_be_a_mapping() -> None:
    assert problems("CreateFigureClusteringTask", [("DatasetName", "x")]) == {
        "request": "must be a dict of IMM fields, got list"
    }


# --- Field names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "wrong", "right"),
    [
        ("CreateOfficeConversionTask", "TargetUri", "TargetURI"),
        ("CreateOfficeConversionTask", "sourceuri", "SourceURI"),
        ("CreateOfficeConversionTask", "target_uri_prefix", "TargetURIPrefix"),
        ("CreateOfficeConversionTask", "SoureURI", "SourceURI"),
        ("CreateMediaConvertTask", "Source", "Sources"),
        ("CreateFigureClustersMergingTask", "froms", "Froms"),
        ("CreateFileCompressionTask", "userdata", "UserData"),
    ],
)
def test_unknown_field_suggests_the_valid_name(action: str, wrong: str, right: str) -> None:
    found = problems(action, {**VALID[action], wrong: "x"})
    assert list(found) == [wrong]
    assert f"is not a field of {action}: did you mean {right!r}?" in found[wrong]


def test_unknown_field_without_a_close_name_lists_the_valid_ones() -> None:
    found = problems("CreateFigureClusteringTask", {**VALID["CreateFigureClusteringTask"], "Xyzzy": 1})
    assert found["Xyzzy"] == (
        "is not a field of CreateFigureClusteringTask: "
        "valid fields are DatasetName, Notification, ProjectName, Tags, UserData"
    )


@settings(max_examples=200)
@given(st.data())
def test_any_case_or_separator_variant_finds_its_field(data: st.DataObject) -> None:
    action = data.draw(st.sampled_from(sorted(OPERATIONS)))
    op = OPERATIONS[action]
    names = sorted(
        op.all_fields - {"UserData"} if action == "CreateDecodeBlindWatermarkTask" else op.all_fields
    )
    name = data.draw(st.sampled_from(names))
    variant = data.draw(
        st.sampled_from(
            [name.lower(), name.upper(), name.swapcase(), re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name)]
        )
    )
    if variant == name:
        return
    found = problems(action, {**VALID[action], variant: "x"})
    assert f"did you mean {name!r}?" in found[variant]


def test_fields_of_the_2017_api() -> None:
    found = problems(
        "CreateOfficeConversionTask", {**VALID["CreateOfficeConversionTask"], "NotifyTopicName": "t"}
    )
    assert (
        "2017 API" in found["NotifyTopicName"]
        and "Notification={'MNS': {'TopicName':" in found["NotifyTopicName"]
    )


def test_a_common_field_the_operation_lacks() -> None:
    action = "CreateDecodeBlindWatermarkTask"
    found = problems(action, {**VALID[action], "UserData": "u"})
    assert found == {"UserData": f"{action} does not accept UserData (the SDK would drop it): remove it"}


def test_non_string_field_name() -> None:
    found = problems("CreateFigureClusteringTask", {**VALID["CreateFigureClusteringTask"], 3: "x"})
    assert "field names are strings" in found["3"]


# --- Nested keys, derived from the SDK models ---------------------------------------------------------


def sdk_from_map_keys(model_name: str) -> set[str]:
    """The keys the SDK's ``from_map`` reads, taken from its source: anything else it drops."""
    from alibabacloud_imm20200930 import models

    return set(re.findall(r"m\.get\('(\w+)'\)", inspect.getsource(getattr(models, model_name).from_map)))


@pytest.mark.parametrize(
    ("action", "field", "model"),
    [
        ("CreateOfficeConversionTask", "Sources", "CreateOfficeConversionTaskRequestSources"),
        ("CreateMediaConvertTask", "Sources", "CreateMediaConvertTaskRequestSources"),
        ("CreateMediaConvertTask", "Targets", "CreateMediaConvertTaskRequestTargets"),
        ("CreateMediaConvertTask", "TargetGroups", "CreateMediaConvertTaskRequestTargetGroups"),
        ("CreateFileCompressionTask", "Sources", "CreateFileCompressionTaskRequestSources"),
        ("CreateImageToPDFTask", "Sources", "CreateImageToPDFTaskRequestSources"),
        ("CreateImageSplicingTask", "Sources", "CreateImageSplicingTaskRequestSources"),
        ("CreateFacesSearchingTask", "Sources", "CreateFacesSearchingTaskRequestSources"),
        ("CreateHighlightTask", "Sources", "CreateHighlightTaskRequestSources"),
    ],
)
def test_list_items_accept_exactly_the_keys_the_sdk_keeps(action: str, field: str, model: str) -> None:
    keys = sdk_from_map_keys(model)
    assert "URI" in keys
    base = with_(action)
    for key in sorted(keys):
        item: dict[str, Any] = {"URI": "oss://in-bucket/x.mp4", key: None}
        validate_request(OPERATIONS[action], {**base, field: [item]})
    for key in sorted(keys):
        wrong = key.lower() if key.lower() != key else key.upper()
        found = problems(action, {**base, field: [{"URI": "oss://in-bucket/x.mp4"}, {wrong: 1}]})
        assert f"is not a key of {field}[1]: did you mean {key!r}?" in found[f"{field}[1].{wrong}"]


@pytest.mark.parametrize(
    ("request_", "field", "fix"),
    [
        ({"Sources": [{"URI": "oss://in-bucket/a.mov", "Rotatee": 1}]}, "Sources[0].Rotatee", None),
        (
            {"Targets": [{"URI": "oss://o-bucket/a.mp4"}, {"Uri": "oss://o-bucket/b.mp4"}]},
            "Targets[1].Uri",
            "URI",
        ),
        ({"Targets": [{"Video": {"DisableVideo": False, "Strem": [0]}}]}, "Targets[0].Video.Strem", "Stream"),
        ({"Notification": {"MNS": {"TopicName": "t", "Endpoint": "e"}}}, "Notification.MNS.Endpoint", None),
        (
            {"CredentialConfig": {"Chain": [{"Role": "r", "RoleARN": "x"}]}},
            "CredentialConfig.Chain[0].RoleARN",
            "Role",
        ),
    ],
)
def test_unknown_nested_keys(request_: dict[str, Any], field: str, fix: str | None) -> None:
    found = problems("CreateMediaConvertTask", {**VALID["CreateMediaConvertTask"], **request_})
    assert list(found) == [field]
    assert found[field].startswith("is not a key of")
    if fix:
        assert f"did you mean {fix!r}?" in found[field]


# --- Required fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "group"), [(a, g) for a in sorted(OPERATIONS) for g in OPERATIONS[a].required]
)
@pytest.mark.parametrize("absent", [None, "", [], {}])
def test_required_groups(action: str, group: tuple[str, ...], absent: Any) -> None:
    request = with_(action)
    for name in group:
        request.pop(name, None)
    if absent is not None:
        request[group[0]] = absent
    found = problems(action, request)
    message = found[group[0]]
    if len(group) == 1:
        assert message == f"is required by {action}: set {group[0]}"
    else:
        assert f"needs one of {', '.join(group)}" in message


def test_one_alternative_of_a_group_suffices() -> None:
    request = with_("CreateOfficeConversionTask", SourceURI=None, TargetURI=None)
    request["Sources"] = [{"URI": "oss://in-bucket/a.docx"}]
    request["TargetURIPrefix"] = "oss://out-bucket/pages/"
    validate_request(get_operation("CreateOfficeConversionTask"), request)


# --- JSON types ---------------------------------------------------------------------------------------


def test_sources_as_a_string_explains_jinja_rendering() -> None:
    found = problems(
        "CreateMediaConvertTask", with_("CreateMediaConvertTask", Sources="[{'URI': 'oss://a/b'}]")
    )
    assert found["Sources"].startswith("must be a list of objects with keys such as URI")
    assert "render_template_as_native_obj=True" in found["Sources"]


def test_sources_as_a_single_object() -> None:
    found = problems(
        "CreateMediaConvertTask", with_("CreateMediaConvertTask", Sources={"URI": "oss://in-bucket/a"})
    )
    assert "wrap it in a list" in found["Sources"]


def test_list_items_must_be_objects() -> None:
    found = problems("CreateImageToPDFTask", with_("CreateImageToPDFTask", Sources=["oss://in-bucket/1.png"]))
    assert found["Sources[0]"].startswith("must be an object with keys such as URI, Rotate")


def test_notification_must_be_an_object() -> None:
    found = problems(
        "CreateFigureClusteringTask", {**VALID["CreateFigureClusteringTask"], "Notification": "t"}
    )
    assert found["Notification"].startswith("must be an object")
    found = problems(
        "CreateFigureClusteringTask", {**VALID["CreateFigureClusteringTask"], "Notification": [{"MNS": {}}]}
    )
    assert "remove the surrounding list" in found["Notification"]


def test_tags_must_be_an_object_of_strings() -> None:
    action = "CreateImageModerationTask"
    assert problems(action, {**VALID[action], "Tags": ["a"]})["Tags"].startswith(
        "must be an object, got a list"
    )
    found = problems(action, {**VALID[action], "Tags": {"ok": "x", "n": 3, "": "e"}})
    assert found["Tags.n"] == "tag values must be strings, got int: write '3'"
    assert "non-empty strings" in found["Tags['']"]


def test_scalars_must_not_be_lists_or_objects() -> None:
    action = "CreateOfficeConversionTask"
    found = problems(action, {**VALID[action], "TargetType": ["pdf"], "EndPage": {"n": 1}})
    assert found["TargetType"] == "must be a single value, not a list"
    assert found["EndPage"] == "must be a single value, not an object"


def test_list_of_strings() -> None:
    action = "CreateVideoModerationTask"
    assert problems(action, {**VALID[action], "Scenes": "porn"})["Scenes"].startswith(
        "must be a list of values"
    )
    assert (
        problems(action, {**VALID[action], "Scenes": [["porn"]]})["Scenes[0]"]
        == "must be a single value, not a list"
    )


def test_rendered_strings_pass_for_scalars() -> None:
    action = "CreateOfficeConversionTask"
    validate_request(
        OPERATIONS[action], {**VALID[action], "EndPage": "5", "LongPicture": "true", "Quality": 80}
    )


# --- OSS URIs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field", "path", "request_"),
    [
        ("CreateOfficeConversionTask", "SourceURI", "SourceURI", "{}"),
        (
            "CreateImageToPDFTask",
            "Sources",
            "Sources[1].URI",
            [{"URI": "oss://in-bucket/1.png"}, {"URI": "{}"}],
        ),
        ("CreateMediaConvertTask", "Targets", "Targets[0].URI", [{"URI": "{}", "Container": "mp4"}]),
        ("CreateMediaConvertTask", "TargetGroups", "TargetGroups[0].URI", [{"URI": "{}"}]),
        ("CreateDecodeBlindWatermarkTask", "OriginalImageURI", "OriginalImageURI", "{}"),
        ("CreateFileCompressionTask", "SourceManifestURI", "SourceManifestURI", "{}"),
        ("CreateOfficeConversionTask", "TargetURIPrefix", "TargetURIPrefix", "{}"),
    ],
)
@pytest.mark.parametrize(
    ("wrong", "expected"),
    [
        (
            "http://bucket.oss-cn-hangzhou.aliyuncs.com/test-object/test.docx",
            "write 'oss://bucket/test-object/test.docx'",
        ),
        (
            "oss://bucket.oss-cn-hangzhou.aliyuncs.com/test-object/test.docx",
            "write 'oss://bucket/test-object/test.docx'",
        ),
        ("oss://Bucket_1/x.docx", "invalid bucket name 'Bucket_1'"),
    ],
)
def test_malformed_oss_uris(
    action: str, field: str, path: str, request_: Any, wrong: str, expected: str
) -> None:
    value = (
        request_.replace("{}", wrong)
        if isinstance(request_, str)
        else [{k: (wrong if v == "{}" else v) for k, v in item.items()} for item in request_]
    )
    found = problems(action, {**VALID[action], field: value})
    assert list(found) == [path]
    assert found[path].startswith(repr(wrong))
    assert expected in found[path]


def test_extended_message_uri_is_an_oss_uri() -> None:
    action = "CreateFigureClusteringTask"
    notification = {
        "MNS": {"TopicName": "t"},
        "ExtendedMessageURI": "https://b.oss-cn-beijing.aliyuncs.com/n.json",
    }
    found = problems(action, {**VALID[action], "Notification": notification})
    assert "write 'oss://b/n.json'" in found["Notification.ExtendedMessageURI"]


def test_folder_targets_may_name_the_bucket_root() -> None:
    validate_request(
        get_operation("CreateFileUncompressionTask"),
        with_("CreateFileUncompressionTask", TargetURI="oss://out-bucket/"),
    )
    request = with_("CreateOfficeConversionTask", TargetURI=None, TargetURIPrefix="oss://out-bucket/")
    validate_request(get_operation("CreateOfficeConversionTask"), request)
    found = problems(
        "CreateFileCompressionTask", with_("CreateFileCompressionTask", TargetURI="oss://out-bucket/")
    )
    assert "has no object key" in found["TargetURI"]


def test_uri_given_as_a_non_string() -> None:
    found = problems("CreateArchiveFileInspectionTask", {"SourceURI": 7})
    assert found["SourceURI"] == "must be a string like 'oss://bucket/key', got int"


# --- TargetURI templates ------------------------------------------------------------------------------


def test_template_variables_of_the_operation() -> None:
    action = "CreateOfficeConversionTask"
    validate_request(
        OPERATIONS[action], with_(action, TargetURI="oss://{bucket}/{dirname}/{barename}-{index}.{autoext}")
    )
    found = problems(action, with_(action, TargetURI="oss://out-bucket/{barenme}.pdf"))
    assert "did you mean '{barename}'?" in found["TargetURI"]
    found = problems(
        "CreateImageToPDFTask", with_("CreateImageToPDFTask", TargetURI="oss://out-bucket/{index}.pdf")
    )
    assert "'{index}', which this operation does not offer" in found["TargetURI"]


def test_template_in_list_items() -> None:
    action = "CreateMediaConvertTask"
    targets = [
        {"URI": "oss://out-bucket/{barename}-{resolution}.mp4"},
        {"URI": "oss://out-bucket/{barename:>3}.ts"},
    ]
    found = problems(action, with_(action, Targets=targets))
    assert list(found) == ["Targets[1].URI"]
    assert "write '{barename}'" in found["Targets[1].URI"]


def test_tag_variables_need_the_request_tags() -> None:
    action = "CreateImageToPDFTask"
    template = "oss://out-bucket/{tags.team}/{barename}.pdf"
    validate_request(OPERATIONS[action], with_(action, TargetURI=template, Tags={"team": "media"}))
    found = problems(action, with_(action, TargetURI=template, Tags={"owner": "x"}))
    assert "no tag 'team' (tags present: owner)" in found["TargetURI"]
    found = problems(action, with_(action, TargetURI=template))
    assert "(tags present: none)" in found["TargetURI"]


def test_tag_variables_on_an_operation_without_tags() -> None:
    action = "CreateFileCompressionTask"
    found = problems(action, with_(action, TargetURI="oss://out-bucket/{tags.team}.zip"))
    assert "takes no Tags" in found["TargetURI"]


def test_unbalanced_template() -> None:
    action = "CreateImageSplicingTask"
    found = problems(action, with_(action, TargetURI="oss://out-bucket/{barename.jpg"))
    assert "unbalanced braces" in found["TargetURI"] and "'{{' or '}}'" in found["TargetURI"]


def test_braces_in_a_source_uri_are_just_characters() -> None:
    action = "CreateImageModerationTask"
    validate_request(OPERATIONS[action], {"SourceURI": "oss://in-bucket/odd{name}.png"})


# --- Jinja leftovers ----------------------------------------------------------------------------------

JINJA_CASES = [
    # (value inside the URI, flagged in a TargetURI, flagged in a SourceURI)
    ("{{ ds }}", True, True),
    ("{{ds}}", True, True),
    ("{{ds_nodash}}", True, True),
    ("{{ params.team }}", True, True),
    ("{{params.team}}", True, True),
    ("{{ ds | replace('-', '') }}", True, True),
    ("{{ macros.ds_add(ds, 1) }}", True, True),
    ("{{}}", True, True),
    ("{% if x %}a{% endif %}", True, True),
    ("{# note #}", True, True),
    ("{%unclosed", True, True),
    ("{{barename}}", False, True),
    ("{{{barename}}}", False, True),
    ("{{literal_text}}", False, True),
    ("{barename}", False, False),
    ("plain", False, False),
]


@pytest.mark.parametrize(("fragment", "in_template", "in_source"), JINJA_CASES)
def test_jinja_leftovers_versus_literal_braces(fragment: str, in_template: bool, in_source: bool) -> None:
    action = "CreateOfficeConversionTask"
    target = f"oss://out-bucket/{fragment}/{{barename}}.pdf"
    source = f"oss://in-bucket/{fragment}/a.docx"
    for field, value, flagged in (("TargetURI", target, in_template), ("SourceURI", source, in_source)):
        request = with_(action, **{field: value})
        if flagged:
            message = problems(action, request)[field]
            assert "Jinja markup" in message and "did not render" in message and "template_fields" in message
        else:
            try:
                validate_request(OPERATIONS[action], request)
            except InvalidRequestError as err:
                assert "Jinja" not in str(err)


def test_jinja_in_nested_values_and_tags() -> None:
    action = "CreateMediaConvertTask"
    request = with_(action, Sources=[{"URI": "oss://in-bucket/{{ ds }}.mov"}], Tags={"run": "{{ run_id }}"})
    found = problems(action, request)
    assert "'{{ ds }}'" in found["Sources[0].URI"]
    assert "'{{ run_id }}'" in found["Tags.run"]


def task_sdk_context_names() -> set[str]:
    """Keys of the Task SDK's ``Context`` TypedDict, read from its source (importing Airflow is slow)."""
    spec = importlib.util.find_spec("airflow")
    assert spec is not None and spec.submodule_search_locations
    for location in spec.submodule_search_locations:
        path = pathlib.Path(location, "sdk", "definitions", "context.py")
        if path.exists():
            tree = ast.parse(path.read_text(encoding="utf-8"))
            context = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Context")
            return {
                n.target.id
                for n in context.body
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            }
    raise AssertionError("airflow/sdk/definitions/context.py not found")


def test_airflow_context_names_cover_the_task_sdk_context() -> None:
    names = task_sdk_context_names()
    assert {"ds", "ti", "params", "macros", "logical_date"} <= names
    assert names <= AIRFLOW_CONTEXT_NAMES
    every_imm_variable = set().union(*(op.template_variables for op in OPERATIONS.values()))
    assert not AIRFLOW_CONTEXT_NAMES & every_imm_variable


# --- UserData, ProjectName, secrets -------------------------------------------------------------------


def test_user_data_size_in_bytes() -> None:
    action = "CreateArchiveFileInspectionTask"
    validate_request(OPERATIONS[action], {**VALID[action], "UserData": "x" * MAX_USER_DATA_BYTES})
    euro = "€" * 683  # 2049 bytes in 683 characters
    found = problems(action, {**VALID[action], "UserData": euro})
    assert found["UserData"].startswith("is 2049 bytes of UTF-8, IMM allows at most 2048")
    assert "€" not in found["UserData"]
    assert "must be a string" in problems(action, {**VALID[action], "UserData": {"k": 1}})["UserData"]


def test_project_name_in_the_request() -> None:
    action = "CreateArchiveFileInspectionTask"
    op = OPERATIONS[action]
    validate_request(op, {**VALID[action], "ProjectName": "proj"}, project="proj")
    validate_request(op, {**VALID[action], "ProjectName": "proj"})
    found = problems(action, {**VALID[action], "ProjectName": "other"}, project="proj")
    assert "is 'other' but the task is submitted to project 'proj'" in found["ProjectName"]
    assert "non-empty string" in problems(action, {**VALID[action], "ProjectName": ""})["ProjectName"]


def test_password_never_appears_in_messages() -> None:
    action = "CreateFileUncompressionTask"
    for password in ("{{ var.value.s3cr3t }}", ["s3cr3t"], {"s3cr3t": 1}):
        with pytest.raises(InvalidRequestError) as info:
            validate_request(OPERATIONS[action], with_(action, Password=password))
        assert "s3cr3t" not in str(info.value)
        assert info.value.field == "Password"


# --- Reporting ----------------------------------------------------------------------------------------


def test_all_fields_reported_first_problem_each() -> None:
    action = "CreateOfficeConversionTask"
    request = {
        "SourceURI": "http://b.oss-cn-hangzhou.aliyuncs.com/a.docx",
        "TargetURI": "oss://Out/{{ ds }}/{barenme}.pdf",  # three problems, one reported
        "TargetUri": "oss://x/y",
        "Tags": {"n": 1},
    }
    with pytest.raises(InvalidRequestError) as info:
        validate_request(OPERATIONS[action], request)
    err = info.value
    assert [p.field for p in err.problems] == ["TargetUri", "TargetType", "Tags.n", "TargetURI", "SourceURI"]
    assert err.field == "TargetUri"
    assert "Jinja" in err.problems[3].message
    assert len(str(err).splitlines()) == 1 + len(err.problems)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(OPERATIONS)), st.data())
def test_arbitrary_requests_only_ever_raise_invalid_request(action: str, data: st.DataObject) -> None:
    op = OPERATIONS[action]
    keys = st.sampled_from(sorted(op.all_fields)) | st.text(max_size=10)
    request = data.draw(st.dictionaries(keys, _JSON, max_size=6))
    try:
        validate_request(op, request)
    except InvalidRequestError as err:
        assert err.problems and all(p.field and p.message for p in err.problems)
        assert len({p.field for p in err.problems}) == len(err.problems)


def test_importing_the_pure_modules_does_not_import_the_sdks() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_imm.utils.request_validation\n"
        "import airflow_provider_imm.utils.notification_parsing\n"
        "import airflow_provider_imm.utils.oss_uri, airflow_provider_imm.utils.target_uri\n"
        "sdks = ('alibabacloud', 'darabonba', 'mns', 'Tea', 'airflow.')\n"
        "bad = [m for m in sys.modules if m.startswith(sdks)]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- Size: bounded messages, linear work ----------------------------------------------------------------

_HUGE = 10_000_000


@pytest.mark.parametrize(
    "changes",
    [
        {"TargetURI": "oss://out/" + "{barename}/" * 100_000 + "a" * _HUGE + "{barname}"},
        {"TargetURI": "oss://out/{{ ds }}" + "a" * _HUGE},
        {"TargetURI": "oss://out/{% if x %}" + "a" * _HUGE + "{% endif %}/{barename}"},
        {"SourceURI": "http://docs.oss-cn-hangzhou.aliyuncs.com/" + "a" * _HUGE},
        {"a" * _HUGE: "x"},
        {"Sources": [{"URI": "oss://docs/a.docx", "a" * _HUGE: 1}]},
        {"Tags": {"a" * _HUGE: 1}},
        {"Tags": {"team": ["a" * _HUGE]}},
        {"UserData": "a" * _HUGE},
    ],
)
def test_messages_quote_a_short_excerpt_of_a_huge_value(changes: dict[str, Any]) -> None:
    action = "CreateOfficeConversionTask"
    with pytest.raises(InvalidRequestError) as info:
        validate_request(OPERATIONS[action], {**VALID[action], **changes})
    assert len(str(info.value)) < 600
    assert all(len(p.field) < 200 and len(p.message) < 500 for p in info.value.problems)


def test_a_request_with_very_many_problems_lists_a_bounded_number() -> None:
    action = "CreateImageToPDFTask"
    request = {**VALID[action], "Sources": [{"URI": f"http://x/{i}.jpg"} for i in range(100_000)]}
    with pytest.raises(InvalidRequestError) as info:
        validate_request(OPERATIONS[action], request)
    err = info.value
    assert len(err.problems) == 100_000
    assert err.field == "Sources[0].URI"
    assert len(str(err)) < 5_000
    assert str(err).endswith("- and 99990 more problems in other fields")


# --- Values JSON cannot carry, keys that are not strings, depth -----------------------------------------


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


def _cycle() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("changes", "field", "fix"),
    [
        ({"Sources": [{"URI": DOC, 1: "x"}]}, "Sources[0][1]", "keys must be strings, got int: write '1'"),
        ({"Tags": {("a", "b"): "x"}}, "Tags[('a', 'b')]", "keys must be strings, got tuple"),
        ({"Tags": {"team": {2.5: "x"}}}, "Tags.team", "tag values must be strings"),
        ({"SourceURI": "oss://in-bucket/docs/\ud800.docx"}, "SourceURI", "a lone surrogate '\\ud800' at "
         "character 21, which UTF-8 cannot encode: remove it"),
        ({"Tags": {"te\udcffam": "x"}}, "Tags['te\\udcffam']", "which UTF-8 cannot encode"),
        ({"UserData": "a\x00b"}, "UserData", "a NUL character at character 1"),
        ({"Sources": [{"URI": DOC + "\x00"}]}, "Sources[0].URI", "a NUL character"),
        ({"Sources": [{"URI": DOC, "Rotate": {90}}]}, "Sources[0].Rotate", "a set, which JSON cannot carry"),
        ({"Sources": [{"URI": DOC, "Rotate": b"90"}]}, "Sources[0].Rotate", "bytes: decode them to text"),
        ({"Sources": [{"URI": DOC, "Rotate": float("nan")}]}, "Sources[0].Rotate", "is not a finite number"),
        ({"EndPage": float("inf")}, "EndPage", "is not a finite number (inf): pass a number"),
        ({"EndPage": object()}, "EndPage", "an object of type object, which JSON cannot carry"),
        ({"Tags": _deep(10_000)}, "Tags" + ".x" * 31, "nested more than 32 levels deep"),
        ({"Sources": [{"URI": DOC}], "Extra": _cycle()}, "Extra[0]", "contains itself"),
    ],
)  # fmt: skip
def test_values_json_cannot_carry_are_named_with_the_fix(
    changes: dict[str, Any], field: str, fix: str
) -> None:
    found = problems("CreateOfficeConversionTask", {**VALID["CreateOfficeConversionTask"], **changes})
    assert fix in found[field], found


def test_a_secret_value_with_a_bad_character_is_not_shown() -> None:
    action = "CreateFileUncompressionTask"
    found = problems(action, with_(action, Password="s3cr3t\ud800\x00"))
    assert "s3cr3t" not in found["Password"]


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**5000], ids=["2**63", "-2**63-1", "10**5000"])
def test_integers_beyond_64_bits_are_refused_by_name(number: int) -> None:
    request = {**MINIMAL["CreateCompressPointCloudTask"].request, "CompressMethod": number}
    with pytest.raises(InvalidRequestError) as caught:
        validate_request(get_operation("CreateCompressPointCloudTask"), request)
    message = str(caught.value)
    assert "CompressMethod: is a number too large for IMM's 64-bit integer fields" in message
    assert len(message) < 500
