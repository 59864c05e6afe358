"""The lean RPC client's serialisation and signing facts agree with the installed IMM SDK."""

from __future__ import annotations

from pathlib import Path

import pytest
from alibabacloud_tea_openapi.utils import Utils, get_canonical_query_string
from darabonba.request import DaraRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm import request_models
from airflow_provider_imm.hooks import rpc
from tests.sdk_request_shapes import derive, render


def test_committed_shapes_are_what_the_installed_sdk_says() -> None:
    requests, models = derive()
    assert requests == request_models.REQUESTS
    assert models == request_models.MODELS


def test_committed_table_is_the_generators_output() -> None:
    """The JSON file is byte for byte what ``python -m tests.sdk_request_shapes`` writes."""
    committed = Path(request_models.__file__).with_name("request_models.json").read_text(encoding="utf-8")
    assert committed == render()


def test_the_shapes_cover_every_action_the_hook_sends() -> None:
    from airflow_provider_imm.catalog import OPERATIONS

    assert set(request_models.REQUESTS) == {*OPERATIONS, "GetTask", "ListTasks"}


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_QUERY = st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,8}", fullmatch=True), _TEXT, max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    query=_QUERY, extra=st.dictionaries(st.from_regex(r"x-acs-[a-z]{1,6}", fullmatch=True), _TEXT, max_size=3)
)
def test_signature_is_the_sdks(query: dict[str, str], extra: dict[str, str]) -> None:
    headers = {"host": "imm.example", "x-acs-action": "GetTask", "accept": "application/json", **extra}
    request = DaraRequest()
    request.method, request.pathname, request.query, request.headers = "POST", "/", query, headers
    payload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert rpc.canonical_query(query) == get_canonical_query_string(query)
    assert rpc.authorization("POST", query, headers, payload, "key-id", "s3cret") == Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", payload, "key-id", "s3cret"
    )


def test_a_complex_field_that_is_not_a_mapping_is_named() -> None:
    with pytest.raises(TypeError, match="Notification must be a mapping"):
        rpc.encode_request("CreateOfficeConversionTask", {"Notification": "topic"})


def test_user_agent_is_the_sdks() -> None:
    assert rpc.user_agent() == Utils.get_user_agent(None)
