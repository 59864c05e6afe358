"""The official IMM and MNS SDK clients, pointed at an emulator, as an application would build them.

The SDKs are imported on first use: loading the IMM SDK takes a second, which tests that never talk
to the emulator should not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alibabacloud_imm20200930.client import Client
    from alibabacloud_oss_v2 import Client as OssClient
    from mns.account import Account

    from airflow_provider_imm.emulator import ImmEmulator


def imm_client_for(
    emulator: ImmEmulator,
    *,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str | None = None,
    signature_algorithm: str | None = None,
) -> Client:
    """An IMM client with the emulator's key pair unless others are given (to be refused, or STS)."""
    from alibabacloud_imm20200930.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    config = Config(
        access_key_id=access_key_id or emulator.access_key_id,
        access_key_secret=access_key_secret or emulator.access_key_secret,
        security_token=security_token,
        endpoint=emulator.endpoint,
        protocol="http",
        region_id=emulator.region,
    )
    if signature_algorithm:
        config.signature_algorithm = signature_algorithm
    return Client(config)


def mns_account_for(
    emulator: ImmEmulator,
    *,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str = "",
) -> Account:
    """An MNS account with the emulator's key pair unless others are given (to be refused, or STS)."""
    from mns.account import Account

    return Account(
        emulator.url,
        access_key_id or emulator.access_key_id,
        access_key_secret or emulator.access_key_secret,
        security_token=security_token,
    )


def oss_client_for(
    emulator: ImmEmulator,
    *,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str | None = None,
    signature_version: str | None = None,
) -> OssClient:
    """An ``alibabacloud-oss-v2`` client of the emulator's OSS API, configured as a user would: endpoint
    ``oss_url`` (an IP address, so path-style), the region, a static key pair; V4 unless ``"v1"``."""
    import alibabacloud_oss_v2 as oss

    config = oss.config.load_default()
    config.region = emulator.region
    config.endpoint = emulator.oss_url
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(
        access_key_id or emulator.access_key_id,
        access_key_secret or emulator.access_key_secret,
        security_token,
    )
    if signature_version:
        config.signature_version = signature_version
    return oss.Client(config)
