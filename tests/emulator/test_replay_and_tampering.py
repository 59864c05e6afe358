"""Replayed, stale, tampered or wrongly keyed requests are refused, on IMM, STS and MNS alike.

Complements ``test_imm_signature.py`` and ``test_mns_auth.py`` (wrong secret, unknown key, stale
date, reused nonce, STS tokens, tampered MNS query and body): here, content changed after signing
on IMM and STS, STS replays, and MNS dates from the future or tokens altered by one character.
"""

from __future__ import annotations

import email.utils
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

import pytest
from mns.mns_exception import MNSServerException

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.emulator.mns_signature import authorization
from tests.emulator.raw_http import imm_error, imm_target, mns_error, send
from tests.sdk_clients import mns_account_for

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ROLE = {"RoleArn": "acs:ram::1234567890123456:role/worker", "RoleSessionName": "session-1"}


def replace_param(target: str, name: str, value: str) -> str:
    query = dict(parse_qsl(target[2:], keep_blank_values=True))
    query[name] = value
    return "/?" + urlencode(query)


def test_imm_query_changed_after_signing_is_refused(emulator: ImmEmulator) -> None:
    emulator.imm.add_project("other")
    target = imm_target(emulator, "DeleteProject", {"ProjectName": DEFAULT_PROJECT}, {})
    status, _, body = send(emulator, "POST", replace_param(target, "ProjectName", "other"))
    assert (status, imm_error(body)["Code"]) == (400, "SignatureDoesNotMatch")
    assert {"other", DEFAULT_PROJECT} <= set(emulator.imm.projects)


def test_imm_form_body_changed_after_signing_is_refused(emulator: ImmEmulator) -> None:
    target = imm_target(emulator, "GetProject", {}, {"ProjectName": DEFAULT_PROJECT})
    status, _, body = send(emulator, "POST", target, b"ProjectName=someone-else", FORM)
    assert (status, imm_error(body)["Code"]) == (400, "SignatureDoesNotMatch")
    status, _, body = send(emulator, "POST", target, f"ProjectName={DEFAULT_PROJECT}".encode(), FORM)
    assert status == 200


def assume_role(emulator: ImmEmulator, target: str) -> tuple[int, dict[str, object]]:
    status, _, body = send(emulator, "GET", target)
    return status, imm_error(body) if status >= 400 else {}


def sts_target(emulator: ImmEmulator, **kwargs: object) -> str:
    return imm_target(emulator, "AssumeRole", ROLE, {}, method="GET", version="2015-04-01", **kwargs)  # type: ignore[arg-type]


def test_a_replayed_assume_role_is_refused(emulator: ImmEmulator) -> None:
    target = sts_target(emulator)
    assert assume_role(emulator, target)[0] == 200
    status, error = assume_role(emulator, target)
    assert (status, error["Code"]) == (400, "SignatureNonceUsed")
    assert len(emulator.accounts.sts_credentials()) == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"secret": "not-the-secret"}, "SignatureDoesNotMatch"),
        ({"timestamp": datetime.now(timezone.utc) - timedelta(hours=1)}, "InvalidTimeStamp.Expired"),
        ({"timestamp": datetime.now(timezone.utc) + timedelta(hours=1)}, "InvalidTimeStamp.Expired"),
    ],
)
def test_assume_role_with_a_wrong_key_or_stale_date_is_refused(
    emulator: ImmEmulator, change: dict[str, object], code: str
) -> None:
    status, error = assume_role(emulator, sts_target(emulator, **change))
    assert (status, error["Code"]) == (400, code)


def test_assume_role_with_another_role_than_signed_is_refused(emulator: ImmEmulator) -> None:
    target = replace_param(sts_target(emulator), "RoleArn", "acs:ram::1234567890123456:role/admin")
    status, error = assume_role(emulator, target)
    assert (status, error["Code"]) == (400, "SignatureDoesNotMatch")


def test_an_mns_date_from_the_future_is_time_expired(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    headers = {
        "Date": email.utils.formatdate(time.time() + 20 * 60, usegmt=True),
        "x-mns-version": "2015-06-06",
    }
    headers["Authorization"] = authorization(
        emulator.access_key_id, emulator.access_key_secret, "GET", headers, "/queues/jobs"
    )
    status, _, body = send(emulator, "GET", "/queues/jobs", headers=headers)
    assert (status, mns_error(body)["Code"]) == (408, "TimeExpired")


@pytest.mark.parametrize("token", ["token-1x", "token-", "TOKEN-1"])
def test_an_mns_sts_token_altered_by_one_character_is_refused(emulator: ImmEmulator, token: str) -> None:
    emulator.mns.create_queue("jobs")
    emulator.accounts.add_sts("STS.key", "sts-secret", "token-1", expires_at=emulator.clock.time() + 3600)
    account = mns_account_for(
        emulator, access_key_id="STS.key", access_key_secret="sts-secret", security_token=token
    )
    with pytest.raises(MNSServerException) as err:
        account.get_queue("jobs").get_attributes()
    assert err.value.type == "AccessDenied"
