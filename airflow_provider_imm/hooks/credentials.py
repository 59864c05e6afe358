"""Connection settings -> credentials, built with Alibaba Cloud's own ``alibabacloud-credentials``.

The library does the work for every kind that needs fetching or refreshing (RAM role ARN, OIDC role
ARN, ECS instance role, the default chain); this module only maps settings onto its ``Config``. A
static AccessKey or STS token is the connection's own values: :class:`StaticCredentialClient` hands
them out as the library would, without importing it.

The STS endpoint of the role kinds defaults to the library's own choice (``sts.aliyuncs.com``, or
what ``ALIBABA_CLOUD_STS_REGION`` / ``ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`` say); ``sts_endpoint``
overrides it, and because the library always speaks https to a bare host, an ``http://host:port``
value is the way to reach a plain-http STS such as the emulator's.

The IMM SDK signs with a :class:`SigningCredentials` rather than the library's client itself: the
library's async refresh blocks the event loop (see the class). Imports of the library happen inside the
functions: importing this module stays cheap.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_imm import sdk
from airflow_provider_imm.hooks.connection import ImmConnectionSettings
from airflow_provider_imm.hooks.errors import ErrorKind, never_connected, one_line, redact, root_reason
from airflow_provider_imm.hooks.log_scrubbing import protect_secrets

if TYPE_CHECKING:
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.models import Config as CredentialConfig
    from alibabacloud_credentials.models import CredentialModel

_MS = 1000
_STS_ANSWER = re.compile(r"result: (\{.*\})\s*$", re.DOTALL)


def credential_config(settings: ImmConnectionSettings) -> CredentialConfig | None:
    """The library ``Config`` for the connection's kind; None for the default chain."""
    kind = settings.auth_type
    if kind == "default":
        return None
    options: dict[str, Any] = {"type": kind}
    if kind in ("access_key", "sts", "ram_role_arn"):
        options.update(access_key_id=settings.access_key_id, access_key_secret=settings.access_key_secret)
        if settings.security_token:
            options["security_token"] = settings.security_token
    if kind in ("ram_role_arn", "oidc_role_arn"):
        options.update(
            role_arn=settings.role_arn,
            role_session_name=settings.role_session_name,
            role_session_expiration=settings.role_session_expiration,
            policy=settings.policy,
            sts_endpoint=settings.sts_endpoint,
        )
    if kind == "ram_role_arn":
        options["external_id"] = settings.external_id
    if kind == "oidc_role_arn":
        options.update(
            oidc_provider_arn=settings.oidc_provider_arn, oidc_token_file_path=settings.oidc_token_file
        )
    if kind == "ecs_ram_role":
        options["role_name"] = settings.role_name
    if kind in ("ram_role_arn", "oidc_role_arn", "ecs_ram_role"):
        # The library's timeouts for fetching credentials are in milliseconds.
        if settings.connect_timeout is not None:
            options["connect_timeout"] = int(settings.connect_timeout * _MS)
        if settings.read_timeout is not None:
            options["timeout"] = int(settings.read_timeout * _MS)
    return sdk.load("alibabacloud_credentials.models").Config(
        **{k: v for k, v in options.items() if v is not None}
    )


#: Kinds whose credentials are the connection's own values: no library needed to hand them out.
STATIC_KINDS = frozenset({"access_key", "sts"})


@dataclass(frozen=True, repr=False)
class StaticCredential:
    """The fields of the library's ``CredentialModel`` that signing reads, for a static kind."""

    access_key_id: str
    access_key_secret: str
    security_token: str | None
    type: str
    provider_name: str
    bearer_token: None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r})"


class StaticCredentialClient:
    """What the library's client gives for ``access_key`` and ``sts``, without importing it: the
    connection's values, with the library's ``type`` and ``provider_name`` (the IMM SDK sends the
    latter as ``x-acs-credentials-provider``)."""

    def __init__(self, settings: ImmConnectionSettings) -> None:
        if not settings.access_key_id:
            raise ValueError("the access key id is empty")
        if not settings.access_key_secret:
            raise ValueError("the access key secret is empty")
        sts = settings.auth_type == "sts"
        self._credential = StaticCredential(
            access_key_id=settings.access_key_id,
            access_key_secret=settings.access_key_secret,
            security_token=settings.security_token if sts else None,
            type="sts" if sts else "access_key",
            provider_name="static_sts" if sts else "static_ak",
        )

    def get_credential(self) -> StaticCredential:
        return self._credential

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def build_credential_client(settings: ImmConnectionSettings) -> CredentialClient | StaticCredentialClient:
    """A credentials client that signs IMM calls and feeds MNS, refreshing role credentials itself.

    AccessKey and STS token kinds need no library (importing it is a tenth of a CPU second per task
    process); every other kind uses Alibaba Cloud's own.
    """
    protect_secrets(settings.secrets)
    if settings.auth_type in STATIC_KINDS:
        return StaticCredentialClient(settings)
    client_class = sdk.load("alibabacloud_credentials.client").Client
    config = credential_config(settings)
    return client_class() if config is None else client_class(config)


class SigningCredentials:
    """The connection's credentials client, as ``Config(credential=...)`` of the IMM SDK takes it.

    The SDK awaits ``get_credential_async`` on the event loop. For the role kinds, the library's async
    refresh takes a ``threading.Lock`` (timeout 5 s) on the loop thread: while one caller awaits STS,
    every other caller blocks the whole loop, and the first one's STS answer cannot even be read. Here
    the library's synchronous path runs in a worker thread instead, where waiting on that lock is
    harmless, and the loop keeps running.

    The secrets it handed out last are remembered: temporary role credentials are not in the
    connection, yet error text that quotes a signed request must be scrubbed of them too, and asking
    the library again while translating an error could mean a blocking STS call.
    """

    #: Distinct credential sets remembered (the one in use and those just before a refresh).
    REMEMBERED = 4

    def __init__(self, client: CredentialClient | StaticCredentialClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._issued: deque[tuple[str, ...]] = deque(maxlen=self.REMEMBERED)

    def get_credential(self) -> CredentialModel | StaticCredential:
        credential = self._client.get_credential()
        values = tuple(v for v in (credential.access_key_secret, credential.security_token) if v)
        with self._lock:
            if values not in self._issued:
                self._issued.append(values)
                protect_secrets(values, temporary=True)
        return credential

    async def get_credential_async(self) -> CredentialModel | StaticCredential:
        return await asyncio.to_thread(self.get_credential)

    def issued_secrets(self) -> tuple[str, ...]:
        """Secrets and tokens recently handed out, to redact from error text."""
        with self._lock:
            return tuple(secret for values in self._issued for secret in values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CredentialPool:
    """One :class:`SigningCredentials` per connection, shared by the hooks built with this pool.

    The triggerer renews its hook every few minutes; with the pool, the renewed hook signs with role
    credentials already fetched instead of a cold cache that every waiting trigger would hit at once.
    A connection whose credential settings changed gets a new client.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, SigningCredentials]] = {}

    def for_settings(self, settings: ImmConnectionSettings) -> SigningCredentials:
        identity = settings.credential_identity
        with self._lock:
            entry = self._entries.get(settings.conn_id)
            if entry is None or entry[0] != identity:
                entry = (identity, SigningCredentials(build_credential_client(settings)))
                self._entries[settings.conn_id] = entry
            return entry[1]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._entries)} connections)"


class _CredentialSource(Protocol):
    def get_credential(self) -> Any: ...


class MnsCredentialsProvider:
    """Adapts a credentials client to the ``credentials_provider`` interface of the MNS SDK.

    MNS asks on every request, so refreshed role credentials are picked up; an absent token must be
    ``""`` there (the SDK would send a ``None`` header otherwise).
    """

    def __init__(self, client: _CredentialSource) -> None:
        self._client = client

    def get_credentials(self) -> Any:
        credential = self._client.get_credential()
        return sdk.load("mns.auth").Credentials(
            credential.access_key_id, credential.access_key_secret, credential.security_token or ""
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


#: Error codes (IMM's and STS's gateway, MNS) that blame one credential setting, by code prefix.
_BLAMED_SETTING = (
    ("InvalidAccessKeyId", "access_key_id"),
    ("SignatureDoesNotMatch", "access_key_secret"),
    ("InvalidSecurityToken", "security_token"),
    ("EntityNotExist.Role", "role_arn"),
)


def credential_hint(code: str, settings: ImmConnectionSettings) -> str:
    """`` Check <field> of connection <id>.`` for an error code that blames a credential setting the
    connection has; empty otherwise (a temporary credential's failure is no field's fault)."""
    for prefix, setting in _BLAMED_SETTING:
        if code.startswith(prefix) and getattr(settings, setting, None) is not None:
            return f" Check {settings.field_name(setting)} of connection {settings.conn_id!r}."
    return ""


@dataclass(frozen=True)
class CredentialFailure:
    code: str
    message: str
    kind: ErrorKind
    request_id: str | None = None


def is_credential_failure(exc: BaseException | None) -> bool:
    """True for errors raised while obtaining credentials rather than while calling the service.

    That is the library's ``CredentialException``, an error of the Tea core it calls STS with, or
    anything else raised inside the library's code (an OIDC token file that cannot be read). Not any
    ``ValueError``: the HTTP stack raises those too, e.g. for an endpoint URL with an invalid port.
    """
    if exc is None:
        return False
    if isinstance(exc, sdk.load("alibabacloud_credentials.exceptions").CredentialException) or type(
        exc
    ).__module__.startswith("Tea."):
        return True
    return _raised_in_library(exc)


def _raised_in_library(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith("alibabacloud_credentials."):
            return True
        tb = tb.tb_next
    return False


def describe_credential_failure(
    exc: BaseException, settings: ImmConnectionSettings, extra_secrets: tuple[str, ...] = ()
) -> CredentialFailure:
    """Code and one-line message for a failure to obtain credentials; STS's own code when it answered.

    ``extra_secrets`` are scrubbed as well as the connection's own (temporary credentials in use).
    """
    secrets = settings.secrets + extra_secrets
    text = str(exc)
    answer = _STS_ANSWER.search(text)
    if answer:
        try:
            document = json.loads(answer.group(1))
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("Code"):
            message = one_line(redact(str(document.get("Message", "")), secrets))
            code = str(document["Code"])
            return CredentialFailure(
                code=code,
                message=f"STS refused to issue {settings.auth_type} credentials: {message}"
                + credential_hint(code, settings),
                kind="client",
                request_id=str(document["RequestId"]) if document.get("RequestId") else None,
            )
    if type(exc).__module__.startswith("Tea."):
        reason = root_reason(exc)
        connected = not never_connected(exc)
        where = settings.sts_endpoint or "the credentials service"
        return CredentialFailure(
            code="NetworkError" if connected else "EndpointUnreachable",
            message=f"cannot obtain {settings.auth_type} credentials from {where}"
            + (f" ({reason})" if reason else ""),
            kind="network" if connected else "connect",
        )
    return CredentialFailure(
        code="CredentialError",
        message=one_line(redact(f"cannot obtain {settings.auth_type} credentials: {text}", secrets)),
        kind="client",
    )
