"""Requests sent byte for byte as written (no client-side normalisation), for hostile-input tests."""

from __future__ import annotations

import email.utils
import http.client
import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode
from xml.etree import ElementTree

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.emulator.imm_signature import rpc_signature
from airflow_provider_imm.emulator.mns_signature import authorization

MNS_NS = "{http://mns.aliyuncs.com/doc/v1/}"


def send(
    emulator: ImmEmulator,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    endpoint: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """``target`` goes on the request line unchanged; ``Host`` is the emulator's unless given.

    ``endpoint`` (``host:port``) is another port of the emulator's (OSS's), else IMM's."""
    endpoint = endpoint or emulator.endpoint
    connection = http.client.HTTPConnection(endpoint, timeout=30)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": endpoint, "Content-Length": str(len(body)), **(headers or {})}
        for name, value in sent.items():
            connection.putheader(name, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def imm_target(
    emulator: ImmEmulator,
    action: str,
    params: Mapping[str, str],
    form: Mapping[str, str],
    *,
    method: str = "POST",
    version: str = "2020-09-30",
    secret: str | None = None,
    timestamp: datetime | None = None,
) -> str:
    """``/?...`` of a legacy-RPC-signed IMM (or STS) call; the signature covers the query and the form."""
    query = {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": emulator.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": secrets.token_hex(16),
        "Timestamp": (timestamp or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **params,
    }
    query["Signature"] = rpc_signature(secret or emulator.access_key_secret, method, {**query, **form})
    return "/?" + urlencode(query, quote_via=quote)


def mns_headers(emulator: ImmEmulator, method: str, target: str, body: bytes = b"") -> dict[str, str]:
    """Headers of a correctly signed MNS request for ``target`` as sent."""
    headers = {"Date": email.utils.formatdate(usegmt=True), "x-mns-version": "2015-06-06"}
    if body:
        headers["Content-Type"] = "text/xml;charset=UTF-8"
    headers["Authorization"] = authorization(
        emulator.access_key_id, emulator.access_key_secret, method, headers, target
    )
    return headers


def mns_error(body: bytes) -> dict[str, str]:
    """The four elements of MNS's ``<Error>``; fails on any other body."""
    root = ElementTree.fromstring(body)
    assert root.tag == f"{MNS_NS}Error", body[:200]
    error = {child.tag.removeprefix(MNS_NS): child.text or "" for child in root}
    assert set(error) == {"Code", "Message", "RequestId", "HostId"}
    return error


def imm_error(body: bytes) -> dict[str, Any]:
    """IMM's JSON error; fails unless it has Code, Message, RequestId and HostId."""
    error = json.loads(body)
    assert {"Code", "Message", "RequestId", "HostId"} <= set(error), body[:200]
    return dict(error)


def admin_error(body: bytes) -> str:
    """The admin API's ``{"error": ...}`` message; fails on any other body."""
    document = json.loads(body)
    assert set(document) == {"error"}, body[:200]
    return str(document["error"])
