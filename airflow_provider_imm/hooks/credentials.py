"""Connection settings -> credentials, built with Alibaba Cloud's own ``alibabacloud-credentials``.

The library does the work for every kind (static AccessKey, STS token, RAM role ARN with refresh,
OIDC role ARN, ECS instance role, the default chain); this module only maps settings onto its
``Config``. The STS endpoint of the role kinds defaults to the library's own choice
(``sts.aliyuncs.com``, or what ``ALIBABA_CLOUD_STS_REGION`` / ``ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED``
say); ``sts_endpoint`` overrides it, and because the library always speaks https to a bare host, an
``http://host:port`` value is the way to reach a plain-http STS such as the emulator's.

Imports of the library happen inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_imm.hooks.connection import ImmConnectionSettings
from airflow_provider_imm.hooks.errors import ErrorKind, never_connected, one_line, redact, root_reason

if TYPE_CHECKING:
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.models import Config as CredentialConfig

_MS = 1000
#: The library's own logger, which prints refresh failures with tracebacks and signed URLs.
_LIBRARY_LOGGER = "credentials"
_STS_ANSWER = re.compile(r"result: (\{.*\})\s*$", re.DOTALL)


def credential_config(settings: ImmConnectionSettings) -> CredentialConfig | None:
    """The library ``Config`` for the connection's kind; None for the default chain."""
    from alibabacloud_credentials.models import Config

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
    return Config(**{k: v for k, v in options.items() if v is not None})


def build_credential_client(settings: ImmConnectionSettings) -> CredentialClient:
    """A credentials client that signs IMM calls and feeds MNS, refreshing role credentials itself."""
    from alibabacloud_credentials.client import Client

    _scrubber.protect(settings.secrets)
    config = credential_config(settings)
    return Client() if config is None else Client(config)


class MnsCredentialsProvider:
    """Adapts a credentials client to the ``credentials_provider`` interface of the MNS SDK.

    MNS asks on every request, so refreshed role credentials are picked up; an absent token must be
    ``""`` there (the SDK would send a ``None`` header otherwise).
    """

    def __init__(self, client: CredentialClient) -> None:
        self._client = client

    def get_credentials(self) -> Any:
        from mns.auth import Credentials

        credential = self._client.get_credential()
        return Credentials(
            credential.access_key_id, credential.access_key_secret, credential.security_token or ""
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass(frozen=True)
class CredentialFailure:
    code: str
    message: str
    kind: ErrorKind
    request_id: str | None = None


def is_credential_failure(exc: BaseException | None) -> bool:
    """True for errors raised while obtaining credentials rather than while calling the service."""
    if exc is None:
        return False
    from alibabacloud_credentials.exceptions import CredentialException

    return isinstance(exc, CredentialException | ValueError) or type(exc).__module__.startswith("Tea.")


def describe_credential_failure(exc: BaseException, settings: ImmConnectionSettings) -> CredentialFailure:
    """Code and one-line message for a failure to obtain credentials; STS's own code when it answered."""
    text = str(exc)
    answer = _STS_ANSWER.search(text)
    if answer:
        try:
            document = json.loads(answer.group(1))
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("Code"):
            message = one_line(redact(str(document.get("Message", "")), settings.secrets))
            return CredentialFailure(
                code=str(document["Code"]),
                message=f"STS refused to issue {settings.auth_type} credentials: {message}",
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
        message=one_line(redact(f"cannot obtain {settings.auth_type} credentials: {text}", settings.secrets)),
        kind="client",
    )


class _ScrubLibraryLog(logging.Filter):
    """Redacts the connection's secrets from the credentials library's own log records.

    That logger prints refresh failures with their traceback, whose text holds the signed STS URL
    (with ``SecurityToken`` when the base credentials are themselves STS ones). The library also
    attaches its own stderr handlers to it (one per module, so each failure prints several times, and
    a stale stream makes ``logging`` dump the raw exception chain); those are removed so its records
    reach the application's logging, scrubbed, like any other.
    """

    #: Shorter values are not redacted: they would mangle unrelated text, and real secrets are longer.
    MIN_LENGTH = 8

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def protect(self, secrets: tuple[str, ...]) -> None:
        with self._lock:
            logger = logging.getLogger(_LIBRARY_LOGGER)
            if self not in logger.filters:
                logger.addFilter(self)
            for handler in list(logger.handlers):
                if type(handler) is logging.StreamHandler:
                    logger.removeHandler(handler)
            self._secrets.update(s for s in secrets if len(s) >= self.MIN_LENGTH)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = tuple(self._secrets)
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        record.msg, record.args, record.exc_info, record.exc_text = redact(message, secrets), (), None, None
        return True


_scrubber = _ScrubLibraryLog()
