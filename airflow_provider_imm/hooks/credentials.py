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

from typing import TYPE_CHECKING, Any

from airflow_provider_imm.hooks.connection import ImmConnectionSettings

if TYPE_CHECKING:
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.models import Config as CredentialConfig

_MS = 1000


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
