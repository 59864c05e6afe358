"""STS (2015-04-01) ``AssumeRole`` and ``AssumeRoleWithOIDC``, as ``alibabacloud-credentials`` calls them.

The library sends ``GET /?Action=AssumeRole&...`` signed in the legacy RPC HMAC-SHA1 form (the
signature, key id and token in the query), which the IMM signature verifier already checks. Issued
credentials are registered with the emulator's accounts, so IMM and MNS accept them until they
expire (by the emulated clock). ``AssumeRoleWithOIDC`` is anonymous: any non-empty token is trusted,
since the emulator has no identity provider to check it against.

Reach it with the connection extra ``sts_endpoint: http://127.0.0.1:PORT``; the library talks https
to a bare host.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from airflow_provider_imm.emulator.context import ServiceContext
from airflow_provider_imm.emulator.imm_errors import ImmError, error_response, new_request_id
from airflow_provider_imm.emulator.imm_signature import SignatureVerifier, SignedRequest

VERSION = "2015-04-01"
MIN_DURATION = 900
MAX_DURATION = 43200
_ROLE_ARN = re.compile(r"^acs:ram::(?P<account>\d+):role/(?P<role>[A-Za-z0-9._@-]{1,64})$")
_OIDC_PROVIDER_ARN = re.compile(r"^acs:ram::\d+:oidc-provider/[A-Za-z0-9._-]{1,128}$")
_SESSION_NAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
_HOST_ID = "sts.aliyuncs.com"


class StsService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self._verifier = SignatureVerifier(context.accounts, context.clock)

    async def handle(self, request: web.Request) -> web.Response:
        request_id = new_request_id()
        query = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        action = query.get("Action", "")
        self.context.counters.incr("sts", action or "Unknown")
        try:
            if query.get("Version") != VERSION:
                raise ImmError(
                    400, "InvalidVersion", f"Specified parameter Version is not valid; use {VERSION}."
                )
            if action == "AssumeRole":
                signed = SignedRequest(
                    method=request.method, path="/", query=query, headers=request.headers, body=b"", form={}
                )
                self._verifier.verify(signed)
                body = self._issue(query, request_id, oidc=False)
            elif action == "AssumeRoleWithOIDC":
                body = self._issue(query, request_id, oidc=True)
            else:
                raise ImmError(404, "InvalidAction.NotFound", f"Specified api {action!r} is not found.")
        except ImmError as err:
            return error_response(err, request_id, _HOST_ID)
        return web.Response(text=json.dumps(body), content_type="application/json")

    def _issue(self, query: dict[str, str], request_id: str, *, oidc: bool) -> dict[str, Any]:
        role_arn = query.get("RoleArn", "")
        match = _ROLE_ARN.match(role_arn)
        if match is None:
            raise _wrongly_formed("RoleArn")
        if match["account"] != self.context.account_id:
            raise ImmError(404, "EntityNotExist.Role", "The specified Role not exists.")
        session = query.get("RoleSessionName", "")
        if not _SESSION_NAME.match(session):
            raise ImmError(
                400, "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed."
            )
        try:
            duration = int(query.get("DurationSeconds", "3600"))
        except ValueError:
            duration = -1
        if not MIN_DURATION <= duration <= MAX_DURATION:
            raise ImmError(
                400,
                "InvalidParameter.DurationSeconds",
                f"The parameter DurationSeconds must be between {MIN_DURATION} and {MAX_DURATION}.",
            )
        policy = query.get("Policy")
        if policy is not None:
            try:
                json.loads(policy)
            except ValueError:
                raise ImmError(
                    400, "InvalidParameter.PolicyGrammar", "The policy is not valid JSON."
                ) from None
        if oidc:
            if not _OIDC_PROVIDER_ARN.match(query.get("OIDCProviderArn", "")):
                raise ImmError(
                    400,
                    "InvalidParameter.OIDCProviderArn",
                    "The parameter OIDCProviderArn is wrongly formed.",
                )
            if not query.get("OIDCToken", "").strip():
                raise ImmError(400, "MissingOIDCToken", "The parameter OIDCToken is required.")

        key_id = f"STS.{secrets.token_hex(12)}"
        secret = secrets.token_urlsafe(24)
        token = f"CAIS{secrets.token_urlsafe(48)}"
        expires_at = self.context.clock.time() + duration
        self.context.accounts.add_sts(key_id, secret, token, expires_at=expires_at)
        role_id = str(secrets.randbelow(10**18)).zfill(18)
        expiration = datetime.fromtimestamp(expires_at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "RequestId": request_id,
            "AssumedRoleUser": {
                "AssumedRoleId": f"{role_id}:{session}",
                "Arn": f"acs:ram::{match['account']}:assumed-role/{match['role']}/{session}",
            },
            "Credentials": {
                "AccessKeyId": key_id,
                "AccessKeySecret": secret,
                "SecurityToken": token,
                "Expiration": expiration,
            },
        }


def _wrongly_formed(name: str) -> ImmError:
    return ImmError(400, f"InvalidParameter.{name}", f"The parameter {name} is wrongly formed.")
