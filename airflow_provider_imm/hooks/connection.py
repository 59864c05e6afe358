"""The ``imm`` connection: its extras, checked once, as one typed record.

A typo in a connection's extras would otherwise be ignored and surface much later as a confusing
authentication or endpoint error, so every key is known here and anything else is refused with the
closest valid key. Values typed into the UI arrive as strings (or empty strings for untouched
fields); they are coerced and validated here, never in the hooks.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

# Defined with the hooks' other errors; importable from here too, where it is raised.
from airflow_provider_imm.hooks.exceptions import ImmConnectionConfigError
from airflow_provider_imm.hooks.retry import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_DELAY,
    DEFAULT_MAX_RETRY_SECONDS,
    RetryPolicy,
)
from airflow_provider_imm.hooks.rocketmq import ROCKETMQ_EXTRAS, RocketMqSettings, parse_rocketmq
from airflow_provider_imm.utils.mns_names import MNS_NAME_RULE, is_mns_name

CONN_TYPE = "imm"
DEFAULT_CONN_ID = "imm_default"

AUTH_TYPES: tuple[str, ...] = (
    "access_key", "sts", "ram_role_arn", "oidc_role_arn", "ecs_ram_role", "default",
)  # fmt: skip
PROTOCOLS: tuple[str, ...] = ("https", "http")
SUBSCRIPTION_FORMATS: tuple[str, ...] = ("JSON", "XML", "SIMPLIFIED")

DEFAULT_PROTOCOL = "https"
DEFAULT_SUBSCRIPTION_FORMAT = "JSON"
#: Smallest connect or read timeout, in seconds (the SDKs take whole milliseconds).
MIN_TIMEOUT = 0.001

#: Every extras key the connection understands, with what it is for (shown in error messages).
EXTRA_KEYS: Mapping[str, str] = {
    "region": "region id, e.g. cn-hangzhou",
    "endpoint": "IMM endpoint override, e.g. imm-vpc.cn-hangzhou.aliyuncs.com or 127.0.0.1:8765",
    "protocol": "https (default) or http",
    "project": "default IMM project",
    "account_id": "Alibaba Cloud account id (names the MNS endpoint and queue ARN)",
    "access_key_id": "AccessKey ID (alternative to the login field)",
    "access_key_secret": "AccessKey secret (alternative to the password field)",
    "security_token": "STS security token",
    "auth_type": "credential kind: " + ", ".join(AUTH_TYPES),
    "role_arn": "RAM role ARN to assume",
    "role_session_name": "session name for the assumed role",
    "role_session_expiration": "assumed role session lifetime in seconds (>= 900)",
    "policy": "policy that further restricts the assumed role",
    "external_id": "external id for assuming the role",
    "sts_endpoint": "STS endpoint override, e.g. sts-vpc.cn-hangzhou.aliyuncs.com or http://127.0.0.1:8765",
    "oidc_provider_arn": "OIDC provider ARN",
    "oidc_token_file": "path of the OIDC token file",
    "role_name": "ECS instance RAM role name",
    "mns_endpoint": "MNS endpoint, e.g. https://<account>.mns.cn-hangzhou.aliyuncs.com",
    "mns_topic": "MNS topic IMM publishes task notifications to",
    "mns_queue": "MNS queue the notifications are read from",
    "mns_subscription": "subscription from the topic to the queue",
    "mns_subscription_format": "subscription content format: " + ", ".join(SUBSCRIPTION_FORMATS),
    **ROCKETMQ_EXTRAS,
    "retry_max_attempts": "attempts per IMM call, first one included",
    "retry_max_seconds": "time budget of one IMM call with its retries, in seconds",
    "retry_base_delay": "first retry delay in seconds at most (random below it), doubled each retry",
    "retry_max_delay": "longest delay between two attempts, in seconds",
    "connect_timeout": "connect timeout in seconds",
    "read_timeout": "read timeout in seconds",
}

#: The value each extra with a default takes when left empty (the connection form shows these).
EXTRA_DEFAULTS: Mapping[str, str | int | float] = {
    "protocol": DEFAULT_PROTOCOL,
    "mns_subscription_format": DEFAULT_SUBSCRIPTION_FORMAT,
    "retry_max_attempts": DEFAULT_MAX_ATTEMPTS,
    "retry_max_seconds": DEFAULT_MAX_RETRY_SECONDS,
    "retry_base_delay": DEFAULT_BASE_DELAY,
    "retry_max_delay": DEFAULT_MAX_DELAY,
}

# Which credential kinds use each credential parameter; any other kind refuses it.
_KIND_PARAMETERS: Mapping[str, frozenset[str]] = {
    "role_arn": frozenset({"ram_role_arn", "oidc_role_arn"}),
    "role_session_name": frozenset({"ram_role_arn", "oidc_role_arn"}),
    "role_session_expiration": frozenset({"ram_role_arn", "oidc_role_arn"}),
    "policy": frozenset({"ram_role_arn", "oidc_role_arn"}),
    "sts_endpoint": frozenset({"ram_role_arn", "oidc_role_arn"}),
    "external_id": frozenset({"ram_role_arn"}),
    "oidc_provider_arn": frozenset({"oidc_role_arn"}),
    "oidc_token_file": frozenset({"oidc_role_arn"}),
    "role_name": frozenset({"ecs_ram_role"}),
}

#: Longest part of a user's value quoted in an error message.
EXCERPT = 40

#: The settings that decide which credentials a connection signs with.
_CREDENTIAL_SETTINGS = (
    "auth_type", "access_key_id", "access_key_secret", "security_token", "role_arn", "role_session_name",
    "role_session_expiration", "policy", "external_id", "sts_endpoint", "oidc_provider_arn",
    "oidc_token_file", "role_name", "connect_timeout", "read_timeout",
)  # fmt: skip
_KEY_FIELDS = {
    "access_key_id": "the login field (AccessKey ID)",
    "access_key_secret": "the password field (AccessKey secret)",
}
_UI_PREFIX = f"extra__{CONN_TYPE}__"
_REGION = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
_ACCOUNT_IN_MNS_HOST = re.compile(r"^(\d+)\.mns\.")


class ConnectionLike(Protocol):
    """What both ``airflow.sdk.Connection`` and ``airflow.models.Connection`` offer."""

    @property
    def conn_id(self) -> str | None: ...
    @property
    def login(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def extra_dejson(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ImmConnectionSettings:
    """Everything an ``imm`` connection says, validated. Secrets are kept out of ``repr``."""

    conn_id: str
    auth_type: str
    region: str | None = None
    endpoint: str | None = None
    protocol: str = DEFAULT_PROTOCOL
    project: str | None = None
    account_id: str | None = None
    access_key_id: str | None = None
    access_key_secret: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    role_arn: str | None = None
    role_session_name: str | None = None
    role_session_expiration: int | None = None
    policy: str | None = None
    external_id: str | None = None
    sts_endpoint: str | None = None
    oidc_provider_arn: str | None = None
    oidc_token_file: str | None = None
    role_name: str | None = None
    mns_endpoint: str | None = None
    mns_topic: str | None = None
    mns_queue: str | None = None
    mns_subscription: str | None = None
    mns_subscription_format: str = DEFAULT_SUBSCRIPTION_FORMAT
    #: IMM's RocketMQ channel, when the connection names one (it then takes MNS's place).
    rocketmq: RocketMqSettings | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: True when the AccessKey pair came from extras ``access_key_id``/``access_key_secret`` rather
    #: than the login and password fields (so errors name the right place to fix).
    keys_in_extras: bool = False
    connect_timeout: float | None = None
    read_timeout: float | None = None

    @property
    def imm_endpoint(self) -> str:
        """``host[:port]`` the IMM client talks to: the override, else the region's public endpoint."""
        if self.endpoint:
            return self.endpoint
        return f"imm.{self.region}.aliyuncs.com"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in logs or error text."""
        rocketmq_password = self.rocketmq.password if self.rocketmq is not None else None
        return tuple(s for s in (self.access_key_secret, self.security_token, rocketmq_password) if s)

    @property
    def credential_identity(self) -> str:
        """Which credentials the connection signs with, as a digest that holds no secret.

        Equal for connections that sign alike, so clients and notification listeners can be shared
        per identity, and different as soon as any credential setting changes.
        """
        parts = "\x00".join(repr(getattr(self, name)) for name in _CREDENTIAL_SETTINGS)
        return hashlib.sha256(parts.encode("utf-8", "backslashreplace")).hexdigest()[:32]

    def field_name(self, setting: str) -> str:
        """Where the user sets ``setting`` (a settings attribute), as the connection form names it."""
        if setting in _KEY_FIELDS and not self.keys_in_extras:
            return _KEY_FIELDS[setting]
        return f"extra {setting!r}"

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> ImmConnectionSettings:
        return parse_connection(conn)


def excerpt(value: object) -> str:
    """``repr`` of a user's value, cut to :data:`EXCERPT` characters."""
    text = str(value)
    return repr(text) if len(text) <= EXCERPT else repr(text[:EXCERPT]) + "..."


def mns_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an MNS queue, topic or subscription name, or None if it can."""
    if is_mns_name(name):
        return None
    return f"{excerpt(name)} is not an MNS name: use {MNS_NAME_RULE}, e.g. 'airflow-imm'"


def parse_connection(conn: ConnectionLike) -> ImmConnectionSettings:
    """Validate ``conn`` (an ``imm`` or ``alibaba_cloud``-style connection) into settings."""
    conn_id = conn.conn_id or DEFAULT_CONN_ID
    extras = _normalise_extras(conn_id, conn.extra_dejson)
    reader = _Reader(conn_id, extras)

    login, password = _blank_to_none(conn.login), _blank_to_none(conn.password)
    key_id = _merge(conn_id, "login", login, "access_key_id", reader.text("access_key_id"))
    secret = _merge(conn_id, "password", password, "access_key_secret", reader.text("access_key_secret"))
    token = reader.text("security_token")

    endpoint, endpoint_protocol = _endpoint(conn_id, conn, reader.text("endpoint"))
    protocol = reader.choice("protocol", PROTOCOLS, lower=True)
    if protocol and endpoint_protocol and protocol != endpoint_protocol:
        raise ImmConnectionConfigError(
            f"Connection {conn_id!r}: extra 'protocol' is {protocol!r} "
            f"but the endpoint says {endpoint_protocol!r}."
        )
    protocol = protocol or endpoint_protocol or DEFAULT_PROTOCOL

    region = reader.text("region")
    if region is not None and not _REGION.match(region):
        raise ImmConnectionConfigError(
            f"Connection {conn_id!r}: extra 'region' {region!r} is not a region id such as 'cn-hangzhou'."
        )
    if region is None and endpoint is None:
        raise ImmConnectionConfigError(
            f"Connection {conn_id!r}: set extra 'region' (e.g. cn-hangzhou) or extra 'endpoint'."
        )

    auth_type = reader.choice("auth_type", AUTH_TYPES, lower=True) or _infer_auth_type(reader, key_id, token)
    _check_credentials(conn_id, reader, auth_type, key_id, secret, token)

    mns_endpoint = reader.text("mns_endpoint")
    account_id = reader.text("account_id")
    if mns_endpoint is not None:
        mns_endpoint = _mns_url(conn_id, mns_endpoint)
        host = urlsplit(mns_endpoint).hostname or ""
        match = _ACCOUNT_IN_MNS_HOST.match(host)
        if match and account_id is None:
            account_id = match.group(1)
    elif account_id is not None and region is not None:
        mns_endpoint = f"https://{account_id}.mns.{region}.aliyuncs.com"
    if account_id is not None and not account_id.isdigit():
        raise ImmConnectionConfigError(f"Connection {conn_id!r}: extra 'account_id' must be digits only.")

    retry = RetryPolicy(
        max_attempts=reader.integer("retry_max_attempts", minimum=1) or DEFAULT_MAX_ATTEMPTS,
        max_seconds=_default(reader.number("retry_max_seconds", minimum=0.0), DEFAULT_MAX_RETRY_SECONDS),
        base_delay=_default(reader.number("retry_base_delay", minimum=0.0), DEFAULT_BASE_DELAY),
        max_delay=_default(reader.number("retry_max_delay", minimum=0.0), DEFAULT_MAX_DELAY),
    )
    expiration = reader.integer("role_session_expiration", minimum=900)

    return ImmConnectionSettings(
        conn_id=conn_id,
        auth_type=auth_type,
        region=region,
        endpoint=endpoint,
        protocol=protocol,
        project=reader.text("project"),
        account_id=account_id,
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=token,
        role_arn=reader.text("role_arn"),
        role_session_name=reader.text("role_session_name"),
        role_session_expiration=expiration,
        policy=reader.text("policy"),
        external_id=reader.text("external_id"),
        sts_endpoint=reader.text("sts_endpoint"),
        oidc_provider_arn=reader.text("oidc_provider_arn"),
        oidc_token_file=reader.text("oidc_token_file"),
        role_name=reader.text("role_name"),
        mns_endpoint=mns_endpoint,
        mns_topic=reader.mns_name("mns_topic"),
        mns_queue=reader.mns_name("mns_queue"),
        mns_subscription=reader.mns_name("mns_subscription"),
        mns_subscription_format=reader.choice("mns_subscription_format", SUBSCRIPTION_FORMATS, upper=True)
        or DEFAULT_SUBSCRIPTION_FORMAT,
        # An STS pair cannot sign RocketMQ requests (the client takes no security token).
        rocketmq=parse_rocketmq(conn_id, extras, (key_id, secret) if token is None else (None, None)),
        retry=retry,
        keys_in_extras=key_id is not None and login is None,
        connect_timeout=reader.number("connect_timeout", minimum=MIN_TIMEOUT),
        read_timeout=reader.number("read_timeout", minimum=MIN_TIMEOUT),
    )


def _normalise_extras(conn_id: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        name = key[len(_UI_PREFIX) :] if key.startswith(_UI_PREFIX) else key
        if name not in EXTRA_KEYS:
            close = difflib.get_close_matches(name, list(EXTRA_KEYS), n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ImmConnectionConfigError(
                f"Connection {conn_id!r}: unknown extra {key!r}.{hint} "
                f"Valid extras: {', '.join(sorted(EXTRA_KEYS))}."
            )
        value = _blank_to_none(value)
        if value is not None:
            extras[name] = value
    return extras


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _default(value: float | None, default: float) -> float:
    return default if value is None else value


def _merge(conn_id: str, field_name: str, field_value: Any, extra_key: str, extra_value: Any) -> str | None:
    if field_value is not None and extra_value is not None and field_value != extra_value:
        raise ImmConnectionConfigError(
            f"Connection {conn_id!r}: the {field_name} field and extra {extra_key!r} disagree; set only one."
        )
    value = field_value if field_value is not None else extra_value
    return None if value is None else str(value)


def _endpoint(conn_id: str, conn: ConnectionLike, extra: str | None) -> tuple[str | None, str | None]:
    """The IMM endpoint as ``host[:port]`` and the protocol its URL form implies, if any."""
    host = _blank_to_none(conn.host)
    if host is not None and extra is not None:
        raise ImmConnectionConfigError(
            f"Connection {conn_id!r}: both the host field and extra 'endpoint' are set; set only one."
        )
    if host is not None:
        extra = f"{host}:{conn.port}" if conn.port else str(host)
    if extra is None:
        return None, None
    protocol = None
    if "://" in extra:
        parts = urlsplit(extra)
        if parts.scheme not in PROTOCOLS or not parts.netloc or parts.path not in ("", "/"):
            raise ImmConnectionConfigError(
                f"Connection {conn_id!r}: endpoint {extra!r} must be host[:port] or http(s)://host[:port]."
            )
        protocol, extra = parts.scheme, parts.netloc
    extra = extra.rstrip("/")
    if not extra or "/" in extra or " " in extra:
        raise ImmConnectionConfigError(f"Connection {conn_id!r}: endpoint {extra!r} must be host[:port].")
    return extra, protocol


def _mns_url(conn_id: str, value: str) -> str:
    url = value if "://" in value else f"https://{value}"
    parts = urlsplit(url)
    if parts.scheme not in PROTOCOLS or not parts.netloc or parts.path not in ("", "/"):
        raise ImmConnectionConfigError(
            f"Connection {conn_id!r}: extra 'mns_endpoint' {value!r} must be http(s)://host[:port]."
        )
    return f"{parts.scheme}://{parts.netloc}"


def _infer_auth_type(reader: _Reader, key_id: str | None, token: str | None) -> str:
    """Without ``auth_type``, the parameters present say which kind is meant."""
    if reader.has("oidc_provider_arn"):
        return "oidc_role_arn"
    if reader.has("role_arn"):
        return "ram_role_arn"
    if reader.has("role_name"):
        return "ecs_ram_role"
    if token is not None:
        return "sts"
    if key_id is not None:
        return "access_key"
    return "default"


def _check_credentials(
    conn_id: str, reader: _Reader, auth_type: str, key_id: str | None, secret: str | None, token: str | None
) -> None:
    def missing(what: str) -> ImmConnectionConfigError:
        return ImmConnectionConfigError(f"Connection {conn_id!r}: auth_type {auth_type!r} needs {what}.")

    uses_keys = auth_type in ("access_key", "sts", "ram_role_arn")
    if uses_keys and (key_id is None or secret is None):
        raise missing("an AccessKey ID (login) and AccessKey secret (password)")
    if not uses_keys and (key_id is not None or secret is not None):
        raise ImmConnectionConfigError(
            f"Connection {conn_id!r}: auth_type {auth_type!r} does not use an AccessKey; "
            "clear the login and password fields (and access_key_id/access_key_secret)."
        )
    if auth_type == "sts" and token is None:
        raise missing("extra 'security_token'")
    if token is not None and auth_type not in ("sts", "ram_role_arn"):
        raise ImmConnectionConfigError(
            f"Connection {conn_id!r}: extra 'security_token' is only used "
            "with auth_type 'sts' or 'ram_role_arn'."
        )
    if auth_type in ("ram_role_arn", "oidc_role_arn") and not reader.has("role_arn"):
        raise missing("extra 'role_arn'")
    if auth_type == "oidc_role_arn":
        for key in ("oidc_provider_arn", "oidc_token_file"):
            if not reader.has(key):
                raise missing(f"extra {key!r}")
    for key, kinds in _KIND_PARAMETERS.items():
        if reader.has(key) and auth_type not in kinds:
            raise ImmConnectionConfigError(
                f"Connection {conn_id!r}: extra {key!r} is only used with auth_type "
                f"{' or '.join(repr(k) for k in sorted(kinds))}, not {auth_type!r}."
            )


class _Reader:
    """Typed access to normalised extras, with errors that name the connection and the key."""

    def __init__(self, conn_id: str, extras: Mapping[str, Any]) -> None:
        self.conn_id = conn_id
        self.extras = extras

    def has(self, key: str) -> bool:
        return key in self.extras

    def _bad(self, key: str, expected: str) -> ImmConnectionConfigError:
        shown = (
            "<hidden>"
            if key in ("access_key_secret", "security_token", "rocketmq_password")
            else repr(self.extras[key])
        )
        return ImmConnectionConfigError(
            f"Connection {self.conn_id!r}: extra {key!r} must be {expected}, got {shown}."
        )

    def text(self, key: str) -> str | None:
        value = self.extras.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self._bad(key, "a string")
        return str(value)

    def mns_name(self, key: str) -> str | None:
        value = self.text(key)
        problem = None if value is None else mns_name_problem(value)
        if problem:
            raise ImmConnectionConfigError(f"Connection {self.conn_id!r}: extra {key!r} {problem}.")
        return value

    def choice(
        self, key: str, allowed: tuple[str, ...], *, lower: bool = False, upper: bool = False
    ) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        normalised = value.lower() if lower else value.upper() if upper else value
        if normalised not in allowed:
            close = difflib.get_close_matches(normalised, list(allowed), n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ImmConnectionConfigError(
                f"Connection {self.conn_id!r}: extra {key!r} is {value!r}, "
                f"not one of {', '.join(allowed)}.{hint}"
            )
        return normalised

    def integer(self, key: str, *, minimum: int) -> int | None:
        number = self._number(key, minimum, integral=True)
        return None if number is None else int(number)

    def number(self, key: str, *, minimum: float) -> float | None:
        return self._number(key, minimum, integral=False)

    def _number(self, key: str, minimum: float, *, integral: bool) -> float | None:
        """The extra as a number >= ``minimum`` (a whole one if ``integral``); strings are parsed."""
        value = self.extras.get(key)
        if value is None:
            return None
        expected = f"an integer >= {minimum}" if integral else f"a number >= {minimum:g}"
        try:
            if isinstance(value, bool) or (integral and isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number: float = int(value) if integral else float(value)
        except (TypeError, ValueError):
            raise self._bad(key, expected) from None
        if number < minimum or number != number:  # NaN compares unequal to itself
            raise self._bad(key, expected)
        return number
