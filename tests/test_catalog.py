"""The task catalog agrees with the official SDK (alibabacloud-imm20200930) it drives."""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client

from airflow_provider_imm.catalog import (
    BASE_TEMPLATE_VARIABLES,
    BY_TASK_TYPE,
    COMMON_FIELDS,
    OPERATIONS,
    TaskOperation,
    UnknownActionError,
    get_operation,
    located_values,
    values_at,
)

ACTIONS = sorted(OPERATIONS)


def wire_keys(model: Any) -> set[str]:
    """The keys ``model.to_map`` can emit, read off its source."""
    return set(re.findall(r"result\['(\w+)'\]", inspect.getsource(model.to_map)))


def list_item_model(request_model: Any, key: str) -> Any:
    """The model of the items of list field ``key`` (``Sources`` -> ``...RequestSources``)."""
    source = inspect.getsource(request_model.from_map)
    match = re.search(rf"m\.get\('{key}'\):\n\s+temp_model = main_models\.(\w+)\(\)", source)
    return getattr(models, match.group(1)) if match else None


def test_eighteen_operations_with_unique_names_and_types() -> None:
    assert len(OPERATIONS) == 18
    assert len(BY_TASK_TYPE) == 18
    assert all(action.startswith("Create") and action.endswith("Task") for action in OPERATIONS)


def test_the_catalog_covers_every_create_task_method_of_the_sdk() -> None:
    sdk = {name for name in dir(Client) if re.fullmatch(r"create_\w*task", name)}
    assert sdk == {op.sdk_method for op in OPERATIONS.values()}


@pytest.mark.parametrize("action", ACTIONS)
def test_client_has_the_method_and_its_twins(action: str) -> None:
    op = OPERATIONS[action]
    for suffix in ("", "_async", "_with_options", "_with_options_async"):
        method = getattr(Client, op.sdk_method + suffix)
        assert callable(method)
    assert list(inspect.signature(getattr(Client, op.sdk_method)).parameters) == ["self", "request"]
    assert inspect.iscoroutinefunction(getattr(Client, op.sdk_method + "_async"))


def test_non_mechanical_names() -> None:
    assert get_operation("CreateImageToPDFTask").sdk_method == "create_image_to_pdftask"
    assert get_operation("CreateFigureClusteringTask").task_type == "FaceClustering"
    assert get_operation("CreateCompressPointCloudTask").task_type == "PointCloudCompress"
    assert get_operation("CreateMediaConvertTask").sdk_method == "create_media_convert_task"


@pytest.mark.parametrize("action", ACTIONS)
def test_request_model_fields_match_the_catalog(action: str) -> None:
    op = OPERATIONS[action]
    model = getattr(models, op.request_model)
    keys = wire_keys(model)
    # Exactly: the catalog never claims a field the SDK would drop without a word, nor misses one.
    assert sorted(op.all_fields) == sorted(keys)
    assert keys >= COMMON_FIELDS
    assert op.has_tags == ("Tags" in keys)
    assert op.has_user_data == ("UserData" in keys)


@pytest.mark.parametrize("action", ACTIONS)
def test_required_fields_are_fields(action: str) -> None:
    op = OPERATIONS[action]
    for group in op.required:
        assert group and set(group) <= op.fields


@pytest.mark.parametrize("action", ACTIONS)
def test_uri_paths_name_real_fields(action: str) -> None:
    op = OPERATIONS[action]
    model = getattr(models, op.request_model)
    for path in op.source_paths + op.target_paths:
        head, _, tail = path.partition("[].")
        assert head in op.fields
        if tail:
            item = list_item_model(model, head)
            assert item is not None and tail in wire_keys(item), path


@pytest.mark.parametrize("action", ACTIONS)
def test_every_uri_field_is_a_source_or_a_target(action: str) -> None:
    op = OPERATIONS[action]
    model = getattr(models, op.request_model)
    covered = set(op.source_paths) | set(op.target_paths)
    for key in wire_keys(model) - COMMON_FIELDS:
        if re.search(r"URI(Prefix)?$", key):
            assert key in covered, key
        item = list_item_model(model, key)
        if item is not None and "URI" in wire_keys(item):
            assert f"{key}[].URI" in covered, key


def test_sources_and_targets_do_not_overlap() -> None:
    for op in OPERATIONS.values():
        assert not set(op.source_paths) & set(op.target_paths)


def test_template_variables() -> None:
    for op in OPERATIONS.values():
        assert not op.extra_template_variables & BASE_TEMPLATE_VARIABLES
        assert op.template_variables >= BASE_TEMPLATE_VARIABLES
    assert get_operation("OfficeConversion").extra_template_variables == {"index", "sheetname", "autoext"}
    assert get_operation("MediaConvert").extra_template_variables == {
        "streamindex",
        "index",
        "resolution",
        "autoext",
    }


def test_lookup_by_action_or_task_type() -> None:
    op = get_operation("CreateMediaConvertTask")
    assert isinstance(op, TaskOperation)
    assert get_operation("MediaConvert") is op


def test_unknown_action_suggests_the_closest() -> None:
    with pytest.raises(UnknownActionError, match="Did you mean 'CreateMediaConvertTask'"):
        get_operation("CreateMediaConvertTsk")
    with pytest.raises(ValueError, match="Valid actions: CreateArchiveFileInspectionTask"):
        get_operation("Nothing")


def test_request_model_annotations_resolve() -> None:
    """Request validation reads these annotations; they must resolve without the SDK's help."""
    for op in OPERATIONS.values():
        hints = typing.get_type_hints(getattr(models, op.request_model).__init__)
        assert "project_name" in hints


def test_which_targets_name_a_folder() -> None:
    # IMM names the objects written under these; lineage, validation and the emulator all ask here.
    assert {(op.action, path) for op in OPERATIONS.values() for path in op.folder_targets} == {
        ("CreateOfficeConversionTask", "TargetURIPrefix"),
        ("CreateFileUncompressionTask", "TargetURI"),
    }
    for op in OPERATIONS.values():
        assert op.folder_targets <= set(op.target_paths)


def test_located_values_walk_every_catalog_path_with_concrete_paths() -> None:
    request = {
        "SourceURI": "oss://b/a.docx",
        "Sources": [{"URI": "oss://b/1.jpg"}, "not an object", {"URI": None}, {"URI": "oss://b/2.jpg"}],
        "Notification": {"ExtendedMessageURI": "oss://b/msg"},
        "Targets": "not a list",
    }
    assert [(p, v) for p, v, _ in located_values(request, "Sources[].URI")] == [
        ("Sources[0].URI", "oss://b/1.jpg"),
        ("Sources[3].URI", "oss://b/2.jpg"),
    ]
    assert located_values(request, "Notification.ExtendedMessageURI") == [
        ("Notification.ExtendedMessageURI", "oss://b/msg", request["Notification"])
    ]
    assert located_values(request, "SourceURI") == [("SourceURI", "oss://b/a.docx", request)]
    assert located_values(request, "Targets[].URI") == located_values(request, "TargetURI") == []
    assert values_at(request, "Sources[].URI") == [
        (v, h) for _, v, h in located_values(request, "Sources[].URI")
    ]
