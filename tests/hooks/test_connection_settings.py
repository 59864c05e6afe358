"""The imm connection's fields and extras -> settings, credentials config and IMM endpoint (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import Connection
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.hooks.connection import (
    EXTRA_KEYS,
    ImmConnectionConfigError,
    mns_name_problem,
    parse_connection,
)
from airflow_provider_imm.hooks.credentials import credential_config
from airflow_provider_imm.hooks.imm import build_imm_client
from airflow_provider_imm.hooks.retry import RetryPolicy

SECRET = "s3cr3t-AccessKey-Secret"


def conn(login: str | None = "LTAIkey", password: str | None = SECRET, **extras: Any) -> Connection:
    return Connection(conn_id="c1", conn_type="imm", login=login, password=password, extra=json.dumps(extras))


def error(**kwargs: Any) -> str:
    with pytest.raises(ImmConnectionConfigError) as info:
        parse_connection(conn(**kwargs))
    return str(info.value)


def test_region_gives_the_public_endpoint_over_https() -> None:
    settings = parse_connection(conn(region="cn-beijing", project="p"))
    assert (settings.imm_endpoint, settings.protocol, settings.auth_type) == (
        "imm.cn-beijing.aliyuncs.com",
        "https",
        "access_key",
    )
    assert build_imm_client(settings)._endpoint == "imm.cn-beijing.aliyuncs.com"


def test_endpoint_overrides_region_and_its_url_form_sets_the_protocol() -> None:
    vpc = parse_connection(conn(region="cn-beijing", endpoint="imm-vpc.cn-beijing.aliyuncs.com"))
    assert build_imm_client(vpc)._endpoint == "imm-vpc.cn-beijing.aliyuncs.com"
    local = parse_connection(conn(endpoint="http://127.0.0.1:8765/"))
    assert (local.imm_endpoint, local.protocol, local.region) == ("127.0.0.1:8765", "http", None)
    assert build_imm_client(local)._endpoint == "127.0.0.1:8765"


def test_host_and_port_fields_are_an_endpoint_too() -> None:
    c = Connection(conn_id="c1", conn_type="imm", login="k", password=SECRET, host="127.0.0.1", port=9000)
    assert parse_connection(c).imm_endpoint == "127.0.0.1:9000"


def test_alibaba_cloud_style_extras_work() -> None:
    settings = parse_connection(
        conn(
            login=None,
            password=None,
            access_key_id="LTAIother",
            access_key_secret=SECRET,
            region="cn-shanghai",
        )
    )
    assert (settings.access_key_id, settings.access_key_secret, settings.region) == (
        "LTAIother",
        SECRET,
        "cn-shanghai",
    )


def test_login_and_access_key_id_must_agree() -> None:
    assert "the login field and extra 'access_key_id' disagree" in error(
        region="cn-hangzhou", access_key_id="x"
    )


def test_unknown_extra_names_the_key_and_the_closest_valid_one() -> None:
    message = error(regoin="cn-hangzhou")
    assert "unknown extra 'regoin'. Did you mean 'region'?" in message


def test_bad_auth_type_and_protocol_are_refused_with_a_suggestion() -> None:
    assert "extra 'auth_type' is 'ram_role', not one of" in error(region="cn-hangzhou", auth_type="ram_role")
    assert "Did you mean 'ram_role_arn'?" in error(region="cn-hangzhou", auth_type="ram_role")
    assert "extra 'protocol' is 'ftp', not one of https, http" in error(region="cn-hangzhou", protocol="ftp")


def test_protocol_must_agree_with_an_endpoint_url() -> None:
    assert "endpoint says 'http'" in error(endpoint="http://127.0.0.1:1", protocol="https")


def test_region_or_endpoint_is_required() -> None:
    assert "set extra 'region'" in error()
    assert "is not a region id" in error(region="Hangzhou")


def test_parameters_of_another_credential_kind_are_refused() -> None:
    assert "extra 'role_name' is only used with auth_type 'ecs_ram_role'" in error(
        region="cn-hangzhou", auth_type="access_key", role_name="r"
    )
    assert "auth_type 'sts' needs extra 'security_token'" in error(region="cn-hangzhou", auth_type="sts")
    assert "does not use an AccessKey" in error(region="cn-hangzhou", auth_type="ecs_ram_role")


def test_ui_prefixed_and_blank_extras_are_accepted_and_numbers_coerced() -> None:
    settings = parse_connection(
        conn(
            **{
                "extra__imm__region": "cn-hangzhou",
                "project": "",
                "retry_max_attempts": "3",
                "retry_max_seconds": "7.5",
                "mns_subscription_format": "xml",
            }
        )
    )
    assert (settings.region, settings.project, settings.mns_subscription_format) == (
        "cn-hangzhou",
        None,
        "XML",
    )
    assert (settings.retry.max_attempts, settings.retry.max_seconds) == (3, 7.5)
    assert "must be an integer >= 1, got 'many'" in error(region="cn-hangzhou", retry_max_attempts="many")


def test_kind_is_inferred_from_what_is_given() -> None:
    assert parse_connection(conn(region="r-1", security_token="tok")).auth_type == "sts"
    assert parse_connection(conn(region="r-1", role_arn="acs:ram::1:role/x")).auth_type == "ram_role_arn"
    assert parse_connection(conn(login=None, password=None, region="r-1")).auth_type == "default"


def test_mns_endpoint_gives_the_account_and_account_with_region_gives_the_endpoint() -> None:
    from_url = parse_connection(
        conn(region="cn-hangzhou", mns_endpoint="123456.mns.cn-hangzhou.aliyuncs.com")
    )
    assert (from_url.mns_endpoint, from_url.account_id) == (
        "https://123456.mns.cn-hangzhou.aliyuncs.com",
        "123456",
    )
    from_account = parse_connection(conn(region="cn-hangzhou", account_id="987"))
    assert from_account.mns_endpoint == "https://987.mns.cn-hangzhou.aliyuncs.com"


def test_settings_repr_keeps_secrets_out() -> None:
    settings = parse_connection(conn(region="cn-hangzhou", security_token="TOKEN-value-123"))
    assert SECRET not in repr(settings)
    assert "TOKEN-value-123" not in repr(settings)
    assert set(settings.secrets) == {SECRET, "TOKEN-value-123"}


@pytest.mark.parametrize(
    ("extras", "expected"),
    [
        ({"auth_type": "access_key"}, {"type": "access_key", "access_key_id": "LTAIkey"}),
        ({"security_token": "tok"}, {"type": "sts", "security_token": "tok"}),
        (
            {
                "role_arn": "acs:ram::1:role/r",
                "sts_endpoint": "sts-vpc.cn-hangzhou.aliyuncs.com",
                "policy": "{}",
            },
            {
                "type": "ram_role_arn",
                "role_arn": "acs:ram::1:role/r",
                "sts_endpoint": "sts-vpc.cn-hangzhou.aliyuncs.com",
            },
        ),
    ],
)
def test_credential_config_per_kind_with_keys(extras: dict[str, Any], expected: dict[str, Any]) -> None:
    config = credential_config(parse_connection(conn(region="cn-hangzhou", **extras)))
    assert config is not None
    assert {k: getattr(config, k) for k in expected} == expected
    assert config.access_key_secret == SECRET


def test_credential_config_for_keyless_kinds() -> None:
    ecs = credential_config(
        parse_connection(
            conn(login=None, password=None, region="cn-hangzhou", role_name="EcsRole", read_timeout=2)
        )
    )
    assert ecs is not None
    assert (ecs.type, ecs.role_name, ecs.timeout, ecs.access_key_id) == (
        "ecs_ram_role",
        "EcsRole",
        2000,
        None,
    )
    oidc = credential_config(
        parse_connection(
            conn(
                login=None,
                password=None,
                region="cn-hangzhou",
                role_arn="acs:ram::1:role/r",
                oidc_provider_arn="acs:ram::1:oidc-provider/p",
                oidc_token_file="/tmp/token",
                role_session_expiration=1800,
            )
        )
    )
    assert oidc is not None
    assert (oidc.type, oidc.oidc_token_file_path, oidc.role_session_expiration) == (
        "oidc_role_arn",
        "/tmp/token",
        1800,
    )
    assert credential_config(parse_connection(conn(login=None, password=None, region="cn-hangzhou"))) is None


def test_every_extra_key_is_described() -> None:
    assert all(EXTRA_KEYS.values())


def test_retry_policy_bounds() -> None:
    policy = RetryPolicy(max_attempts=4, max_seconds=10, base_delay=1, max_delay=3, jitter=0.5)
    assert [policy.backoff(n, 0.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]
    assert [policy.backoff(n, 0.999999) for n in (1, 2, 3)] == pytest.approx([1.0, 2.0, 3.0], abs=1e-5)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize("extra", ["mns_queue", "mns_topic", "mns_subscription"])
@pytest.mark.parametrize("name", ["../x", "a?b=1", "a\x00b", "a/b", "-lead", "a b", "x" * 257, "é"])
def test_mns_names_follow_mns_naming_rule(extra: str, name: str) -> None:
    message = error(region="cn-hangzhou", **{extra: name})
    assert f"extra {extra!r}" in message
    assert "letters, digits and hyphens" in message
    assert len(message) < 400  # a long value is quoted as an excerpt


@pytest.mark.parametrize("name", ["airflow-imm", "Imm-Events-2", "1queue", "q" * 256])
def test_valid_mns_names_are_accepted(name: str) -> None:
    settings = parse_connection(conn(region="cn-hangzhou", mns_queue=name, mns_topic=name))
    assert (settings.mns_queue, settings.mns_topic) == (name, name)


def test_credential_identity_changes_with_the_credentials_only() -> None:
    base = parse_connection(conn(region="cn-hangzhou", project="p"))
    same = parse_connection(conn(region="cn-beijing", project="q", mns_queue="other"))
    other_secret = parse_connection(conn(password="another-secret-value", region="cn-hangzhou"))
    role = parse_connection(conn(region="cn-hangzhou", role_arn="acs:ram::1:role/r"))
    assert base.credential_identity == same.credential_identity
    assert len({base.credential_identity, other_secret.credential_identity, role.credential_identity}) == 3
    assert SECRET not in base.credential_identity


@settings(max_examples=200, deadline=None)
@given(name=st.text(alphabet="aZ09-?./ \x00", max_size=300))
def test_a_name_the_emulator_takes_is_one_the_connection_takes(name: str) -> None:
    """One rule, in utils.mns_names: the connection accepts what either documented rule allows, the
    emulator what the 2019 rule allows, so nothing the emulator takes is refused by the hooks."""
    from airflow_provider_imm.emulator.mns_store import MnsError, check_name

    try:
        check_name("Queue", name)
    except MnsError:
        emulator_takes = False
    else:
        emulator_takes = True
    connection_takes = mns_name_problem(name) is None
    assert connection_takes >= emulator_takes
    assert connection_takes == (name[:1].isalnum() and len(name) <= 256 and set(name) <= set("aZ09-"))
