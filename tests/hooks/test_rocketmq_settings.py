"""The connection's RocketMQ extras: validated with errors naming the extra, the password a secret."""

from __future__ import annotations

import json

import pytest
from airflow.models import Connection

from airflow_provider_imm.hooks.connection import ImmConnectionConfigError, parse_connection

EXTRAS = {
    "region": "cn-hangzhou",
    "rocketmq_endpoint": "rmq-cn-x.cn-hangzhou.rmq.aliyuncs.com:8080",
    "rocketmq_instance_id": "rmq-cn-x",
    "rocketmq_topic": "imm-events",
    "rocketmq_group": "airflow-imm",
}


def settings(**extras: object):  # type: ignore[no-untyped-def]
    merged = {**EXTRAS, **extras}
    conn = Connection(
        conn_id="rmq",
        conn_type="imm",
        login="LTAIkey",
        password="ak-secret-value",
        extra=json.dumps({k: v for k, v in merged.items() if v is not None}),
    )
    return parse_connection(conn)


def test_the_accesskey_pair_signs_unless_instance_credentials_are_given() -> None:
    rocketmq = settings().rocketmq
    assert (rocketmq.endpoint, rocketmq.tls, rocketmq.username) == (
        EXTRAS["rocketmq_endpoint"],
        False,
        "LTAIkey",
    )
    own = settings(rocketmq_username="user", rocketmq_password="instance-pass-123").rocketmq
    assert (own.username, own.password) == ("user", "instance-pass-123")


def test_the_instance_password_is_a_secret_and_not_in_repr() -> None:
    parsed = settings(rocketmq_username="user", rocketmq_password="instance-pass-123")
    assert "instance-pass-123" in parsed.secrets
    assert "instance-pass-123" not in repr(parsed)


def test_https_endpoint_means_tls() -> None:
    assert settings(rocketmq_endpoint="https://rmq.example.com:8081").rocketmq.tls


def test_without_rocketmq_extras_there_is_no_rocketmq() -> None:
    assert settings(**dict.fromkeys(EXTRAS.keys() - {"region"})).rocketmq is None


@pytest.mark.parametrize(
    ("extras", "named"),
    [
        ({"rocketmq_group": None}, "'rocketmq_group'"),
        ({"rocketmq_endpoint": "no-port"}, "'rocketmq_endpoint'"),
        ({"rocketmq_topic": "bad topic!"}, "'rocketmq_topic'"),
        ({"rocketmq_username": "only-user"}, "'rocketmq_password'"),
        ({"rocketmq_endpoint": "x" * 5000}, "'rocketmq_endpoint'"),
    ],
)
def test_bad_extras_are_refused_naming_the_extra(extras: dict[str, object], named: str) -> None:
    with pytest.raises(ImmConnectionConfigError, match=named) as raised:
        settings(**extras)
    assert len(str(raised.value)) < 400


@pytest.mark.parametrize(
    "conn",
    [
        Connection(
            conn_id="rmq",
            conn_type="imm",
            login="STS.key",
            password="sts-secret-value",
            extra=json.dumps({**EXTRAS, "security_token": "token-value-123"}),
        ),
        Connection(
            conn_id="rmq",
            conn_type="imm",
            extra=json.dumps({**EXTRAS, "auth_type": "ecs_ram_role", "role_name": "imm-role"}),
        ),
    ],
    ids=["sts", "ecs_ram_role"],
)
def test_without_a_long_term_pair_rocketmq_needs_the_instance_credentials(conn: Connection) -> None:
    with pytest.raises(ImmConnectionConfigError, match="'rocketmq_username' and 'rocketmq_password'"):
        parse_connection(conn)
    conn.set_extra(
        json.dumps(
            {**json.loads(conn.extra or "{}"), "rocketmq_username": "u", "rocketmq_password": "p-123456"}
        )
    )
    assert parse_connection(conn).rocketmq is not None
