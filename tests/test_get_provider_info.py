"""Airflow discovers the imm connection type, its hook and its declarative form through the provider info."""

from __future__ import annotations

import json
import warnings

import pytest
from airflow.providers_manager import ProvidersManager
from airflow.sdk import Connection
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

from airflow_provider_imm.get_provider_info import get_provider_info
from airflow_provider_imm.hooks.connection import (
    EXTRA_KEYS,
    ImmConnectionConfigError,
    ImmConnectionSettings,
    parse_connection,
)
from airflow_provider_imm.hooks.imm import ImmHook


def _form_fields() -> dict[str, dict[str, object]]:
    [conn_type] = get_provider_info()["connection-types"]
    return conn_type["conn-fields"]


def test_providers_manager_finds_the_hook_and_the_form() -> None:
    manager = ProvidersManager()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of the task runtime manager, tested below
        info = manager.hooks["imm"]
    assert info is not None
    assert (
        info.hook_class_name,
        info.connection_id_attribute_name,
        info.hook_name,
        info.connection_testable,
    ) == (
        "airflow_provider_imm.hooks.imm.ImmHook",
        "imm_conn_id",
        "Alibaba Cloud IMM",
        True,
    )

    widgets = manager.connection_form_widgets
    for name in _form_fields():
        widget = widgets[f"extra__imm__{name}"]
        assert widget.field_name == name
        assert widget.field["schema"]["title"]
    assert widgets["extra__imm__security_token"].is_sensitive
    assert not widgets["extra__imm__region"].is_sensitive
    assert widgets["extra__imm__auth_type"].field["schema"]["enum"] == [
        "access_key", "sts", "ram_role_arn", "oidc_role_arn", "ecs_ram_role", "default",
    ]  # fmt: skip

    behaviour = manager.field_behaviours["imm"]
    assert behaviour["hidden_fields"] == ["host", "port", "schema"]
    assert behaviour["relabeling"] == {"login": "AccessKey ID", "password": "AccessKey secret"}
    assert behaviour["placeholders"]["extra__imm__region"] == "cn-hangzhou"


def test_every_form_field_is_an_extra_the_hook_accepts() -> None:
    assert set(_form_fields()) <= set(EXTRA_KEYS)


def test_task_runtime_builds_the_hook_from_a_connection() -> None:
    assert ProvidersManagerTaskRuntime().hooks["imm"] is not None
    hook = Connection(conn_id="imm_from_runtime", conn_type="imm").get_hook()
    assert isinstance(hook, ImmHook)
    assert hook.imm_conn_id == "imm_from_runtime"


def test_providers_manager_lists_the_trigger() -> None:
    modules = {
        t.trigger_class_name for t in ProvidersManager().trigger if t.package_name == "airflow-provider-imm"
    }
    assert modules == {
        "airflow_provider_imm.triggers.imm",
        "airflow_provider_imm.triggers.batch",
        "airflow_provider_imm.triggers.mns_event",
    }


def test_providers_manager_lists_the_mns_message_queue() -> None:
    manager = ProvidersManager()
    manager.initialize_providers_queues()
    assert "airflow_provider_imm.queues.mns.MnsMessageQueueProvider" in manager.queue_class_names


def test_every_extra_has_a_form_field_except_the_key_pair() -> None:
    # The key pair has the login and password fields; the extras are for alibaba_cloud-style connections.
    assert set(EXTRA_KEYS) - set(_form_fields()) == {"access_key_id", "access_key_secret"}


def test_each_number_field_allows_exactly_what_the_hook_accepts() -> None:
    numbers = {
        name: field["schema"]
        for name, field in _form_fields().items()
        if {"number", "integer"} & set(field["schema"]["type"])  # type: ignore[index]
    }
    assert {"connect_timeout", "read_timeout", "retry_base_delay", "retry_max_delay"} <= set(numbers)
    for name, schema in numbers.items():
        lowest = schema["minimum"]  # type: ignore[index]
        step = 1 if "integer" in schema["type"] else lowest / 2 if lowest else 0.5  # type: ignore[index]
        _settings(**{name: lowest})  # the form's smallest value is accepted...
        with pytest.raises(ImmConnectionConfigError, match=name):
            _settings(**{name: lowest - step})  # ...and the form refuses what the hook would


def _settings(**extras: object) -> ImmConnectionSettings:
    extras["region"] = "cn-hangzhou"
    if "role_session_expiration" in extras:
        extras["role_arn"] = "acs:ram::1:role/r"
    conn = Connection(
        conn_id="form", conn_type="imm", login="LTAIkey", password="secret", extra=json.dumps(extras)
    )
    return parse_connection(conn)


#: Every AccessKey user fills these in; they come first, in this order.
COMMON = ["region", "project", "mns_queue", "mns_topic", "mns_subscription", "account_id"]
#: Fields of one credential kind only, after the kind selector.
KIND_SPECIFIC = {
    "security_token", "role_arn", "role_session_name", "role_session_expiration", "policy", "external_id",
    "sts_endpoint", "oidc_provider_arn", "oidc_token_file", "role_name",
}  # fmt: skip


def _placeholders() -> dict[str, str]:
    [conn_type] = get_provider_info()["connection-types"]
    return conn_type["ui-field-behaviour"]["placeholders"]


def test_the_common_fields_come_first_and_kind_specific_ones_after_the_kind() -> None:
    order = list(_form_fields())
    assert order[: len(COMMON)] == COMMON
    kind_at = order.index("auth_type")
    assert all(order.index(name) > kind_at for name in KIND_SPECIFIC)
    assert order.index("auth_type") > max(order.index(name) for name in ("endpoint", "protocol"))


def test_every_field_has_a_label_a_description_and_a_placeholder_or_default() -> None:
    placeholders = _placeholders()
    for name, field in _form_fields().items():
        assert field["label"], name
        assert len(str(field["description"])) > 10, name
        assert placeholders.get(name) or "default" in field["schema"], name  # type: ignore[operator]


# Where each extra with a default lands in the settings.
_SETTING = {
    "protocol": lambda s: s.protocol,
    "mns_subscription_format": lambda s: s.mns_subscription_format,
    "retry_max_attempts": lambda s: s.retry.max_attempts,
    "retry_max_seconds": lambda s: s.retry.max_seconds,
    "retry_base_delay": lambda s: s.retry.base_delay,
    "retry_max_delay": lambda s: s.retry.max_delay,
}


def test_defaults_shown_are_the_hooks_real_defaults() -> None:
    settings = _settings()  # nothing but a region: every default applies
    placeholders = _placeholders()
    shown = {}
    for name, field in _form_fields().items():
        schema = field["schema"]
        if "default" in schema:  # type: ignore[operator]
            shown[name] = schema["default"]  # type: ignore[index]
        elif "(default)" in placeholders.get(name, ""):
            shown[name] = placeholders[name].removesuffix(" (default)")
    assert set(shown) == set(_SETTING)
    for name, value in shown.items():
        assert str(_SETTING[name](settings)) == str(value), name  # type: ignore[no-untyped-call]
