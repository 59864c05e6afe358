"""Secrets (AccessKey secret, STS token) never reach logs, exception text or reprs, whatever fails."""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.credentials import MnsCredentialsProvider, build_credential_client
from airflow_provider_imm.hooks.errors import ImmApiError, MnsApiError, redact
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.hooks.log_scrubbing import SecretScrubber
from airflow_provider_imm.hooks.mns import MnsHook
from airflow_provider_imm.hooks.retry import RetryPolicy
from tests.emulated_imm import MakeConn
from tests.hooks.stub_servers import stub_server, token_headers
from tests.secret_scan import RootCapture, assert_no_secret, record_texts

KEY_ID = "LTAIsecretsTestKey"
SECRET = "Sup3rSecret-AccessKeySecret-7731"
WRONG_SECRET = "WrongSecret-NotTheRealOne-4410"
STS_KEY_ID = "STS.secretsTestKey"
STS_SECRET = "StsSecret-Temporary-9902"
TOKEN = "CAISsecurityTokenValue-5518"
WRONG_TOKEN = "CAISotherTokenValue-6627"
ALL_SECRETS = (SECRET, WRONG_SECRET, STS_SECRET, TOKEN, WRONG_TOKEN)
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)


def _failure(fn: Callable[[], Any]) -> BaseException:
    with pytest.raises((ImmApiError, MnsApiError)) as info:
        fn()
    return info.value


def test_no_secret_in_logs_errors_or_reprs(
    emulator: ImmEmulator,
    emulator_conn: MakeConn,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.accounts.add_key(KEY_ID, SECRET)
    emulator.accounts.add_sts(STS_KEY_ID, STS_SECRET, TOKEN)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    good = ImmHook(emulator_conn(login=KEY_ID, password=SECRET), retry_policy=FAST)
    wrong_secret = ImmHook(emulator_conn(login=KEY_ID, password=WRONG_SECRET), retry_policy=FAST)
    sts = ImmHook(
        emulator_conn(login=STS_KEY_ID, password=STS_SECRET, security_token=TOKEN), retry_policy=FAST
    )
    wrong_token = ImmHook(
        emulator_conn(login=STS_KEY_ID, password=STS_SECRET, security_token=WRONG_TOKEN), retry_policy=FAST
    )
    # Role credentials from STS credentials, with STS down: the library logs the signed URL it tried.
    role_via_sts_down = ImmHook(
        emulator_conn(
            login=STS_KEY_ID,
            password=STS_SECRET,
            security_token=TOKEN,
            role_arn=f"acs:ram::{emulator.account_id}:role/r",
            sts_endpoint=f"http://127.0.0.1:{closed_port}",
        ),
        retry_policy=RetryPolicy(max_attempts=1),
    )
    mns_wrong_token = MnsHook(
        emulator_conn(login=STS_KEY_ID, password=STS_SECRET, security_token=WRONG_TOKEN)
    )

    errors: list[BaseException] = [
        _failure(lambda: wrong_secret.get_task(None, "OfficeConversion", "x")),
        _failure(lambda: wrong_token.get_task(None, "OfficeConversion", "x")),
        _failure(lambda: role_via_sts_down.get_task(None, "OfficeConversion", "x")),
        _failure(lambda: mns_wrong_token.receive(wait_seconds=0)),
    ]
    MnsHook(good.imm_conn_id).ensure_notification_channel()
    assert good.test_connection()[0]
    emulator.faults.throttle_imm(2, retry_after=0.01)
    assert list(good.list_tasks()) == []  # throttled twice, then answered
    emulator.faults.throttle_imm(5, retry_after=0.01)
    errors.append(_failure(lambda: sts.get_task(None, "OfficeConversion", "x")))
    outcomes = [hook.test_connection() for hook in (wrong_secret, wrong_token, role_via_sts_down)]

    assert [type(e) for e in errors] == [ImmApiError, ImmApiError, ImmApiError, MnsApiError, ImmApiError]
    assert [getattr(e, "code", None) for e in errors] == [
        "SignatureDoesNotMatch",
        "InvalidSecurityToken.MismatchWithAccessKey",
        "EndpointUnreachable",
        "AccessDenied",
        "Throttling.User",
    ]
    assert not any(ok for ok, _ in outcomes)
    captured = capfd.readouterr()
    # The retries were logged (Airflow routes hook loggers to its own handler, hence stdout too).
    assert "IMM GetTask attempt 1/3 failed with Throttling.User" in caplog.text + captured.out
    assert "SecurityToken=***" in caplog.text  # the library's own log was scrubbed, not silenced
    reprs = [repr(h) for h in (good, sts, wrong_token, role_via_sts_down, mns_wrong_token)]
    reprs += [repr(sts.settings), repr(MnsCredentialsProvider(build_credential_client(sts.settings)))]
    texts = {
        "logs": caplog.text,
        "log records": "\n".join(str(r.__dict__) for r in caplog.records),
        "stdout": captured.out,
        "stderr": captured.err,
        "errors": "\n".join(f"{e}\n{e!r}\n{e.args}\n{e.__dict__}" for e in errors),
        "test_connection": "\n".join(message for _, message in outcomes),
        "reprs": "\n".join(reprs),
    }
    for where, text in texts.items():
        assert_no_secret([text], ALL_SECRETS, where=where)


def _imm_quoting_tokens(headers: Mapping[str, str]) -> tuple[int, str, str]:
    """An IMM-style refusal quoting the request's token headers, as a canonical request would show them."""
    message = (
        f"Specified signature does not match our calculation. Canonical headers: {token_headers(headers)}"
    )
    body = {"RequestId": "5E0A-QUOTE", "HostId": "imm", "Code": "SignatureDoesNotMatch", "Message": message}
    return 400, "application/json", json.dumps(body)


def _mns_quoting_tokens(headers: Mapping[str, str]) -> tuple[int, str, str]:
    """The same from MNS, in its XML error form."""
    return (
        403,
        "text/xml",
        (
            '<?xml version="1.0" encoding="UTF-8"?><Error xmlns="http://mns.aliyuncs.com/doc/v1/">'
            f"<Code>SignatureDoesNotMatch</Code><Message>Mismatch. {token_headers(headers)}</Message>"
            "<RequestId>5E0A-QUOTE</RequestId><HostId>mns</HostId></Error>"
        ),
    )


async def test_temporary_role_credentials_are_scrubbed_from_quoted_requests(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    with stub_server(_imm_quoting_tokens) as imm, stub_server(_mns_quoting_tokens) as mns:
        conn_id = emulator_conn(
            role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
            sts_endpoint=emulator.url,
            endpoint=imm.endpoint,
            mns_endpoint=mns.url,
        )
        hook = ImmHook(conn_id, retry_policy=FAST)
        errors: list[BaseException] = [
            _failure(lambda: hook.get_task(None, "OfficeConversion", "x")),
            _failure(lambda: MnsHook(conn_id).receive(wait_seconds=0)),
        ]
        with pytest.raises(ImmApiError) as info:
            await ImmHook(conn_id, retry_policy=FAST).aget_task(None, "OfficeConversion", "x")
        errors.append(info.value)
        ok, message = ImmHook(conn_id, retry_policy=FAST).test_connection()

    tokens = {h["x-acs-security-token"] for h in imm.requests} | {h["security-token"] for h in mns.requests}
    assert emulator.counters.get("sts", "AssumeRole") == 4  # each hook assumed the role
    assert len(tokens) == 4 and not ok
    texts = [f"{e}\n{e!r}\n{e.__dict__}" for e in errors] + [message]
    for text in texts:
        assert "SignatureDoesNotMatch" in text and "security-token:***" in text  # quoted, then scrubbed
    assert_no_secret(texts, tokens, where="error text")


#: Base64 characters, as real tokens have: each encoding writes this token differently.
BASE_TOKEN = "CAIS+base/Token=5518+x/y=="


async def test_no_secret_reaches_any_logger_over_role_refreshes(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    """ram_role_arn over STS base credentials, refreshed on every call (900 s sessions are stale at once).

    The HTTP library logs each signed AssumeRole URL, base token included, at DEBUG.
    """
    emulator.accounts.add_sts(STS_KEY_ID, STS_SECRET, BASE_TOKEN)
    conn_id = emulator_conn(
        login=STS_KEY_ID,
        password=STS_SECRET,
        security_token=BASE_TOKEN,
        role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
        sts_endpoint=emulator.url,
        role_session_expiration=900,
    )
    with RootCapture() as capture:
        hook = ImmHook(conn_id, retry_policy=FAST)
        for _ in range(2):
            with pytest.raises(ImmApiError):
                hook.get_task(None, "OfficeConversion", "no-such-task")
            with pytest.raises(ImmApiError):
                await hook.aget_task(None, "OfficeConversion", "no-such-task")
        mns = MnsHook(conn_id)
        mns.ensure_notification_channel()
        assert mns.receive(wait_seconds=0) == []
        assert hook.test_connection()[0]

    assert emulator.counters.get("sts", "AssumeRole") >= 6  # real refreshes, each a signed request
    issued = [
        value
        for key in emulator.accounts.sts_credentials()  # every credential STS handed out
        for value in (key.secret, key.security_token)
        if value
    ]
    texts = record_texts(capture.records)
    assert any("AssumeRole" in text for text in texts)  # the HTTP library did log the requests
    assert_no_secret(texts, [STS_SECRET, BASE_TOKEN, *issued], where="log record")


def _lower_escapes(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), text)


#: How a library may write a text holding a secret: each encodes the whole text, so the secret's
#: encoded form depends on what surrounds it (base64 groups cross its edges).
WHOLE_TEXT_ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda t: t,
    "percent-encoded": lambda t: quote(t, safe=""),
    "percent-encoded, lower-case": lambda t: _lower_escapes(quote(t, safe="")),
    "percent-encoded (path)": quote,
    "form-encoded": quote_plus,
    "percent-encoded twice": lambda t: quote(quote(t, safe=""), safe=""),
    "percent-encoded twice, lower-case": lambda t: quote(_lower_escapes(quote(t, safe="")), safe=""),
    "base64": lambda t: base64.b64encode(t.encode()).decode(),
    "urlsafe base64, unpadded": lambda t: base64.urlsafe_b64encode(t.encode()).decode().rstrip("="),
    "JSON-escaped": lambda t: json.dumps(t)[1:-1],
    "JSON-escaped, UTF-8": lambda t: json.dumps(t, ensure_ascii=False)[1:-1],
}

# "*" is left out of secrets: a secret made of the redaction mark's character could be rebuilt by it.
_SECRETS = st.text(
    st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), min_size=8, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(
    secret=_SECRETS,
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    encoding=st.sampled_from(sorted(WHOLE_TEXT_ENCODINGS)),
)
def test_redact_leaves_no_secret_in_an_encoded_text(
    secret: str, before: str, after: str, encoding: str
) -> None:
    text = WHOLE_TEXT_ENCODINGS[encoding](f"{before}{secret}{after}")
    assert_no_secret([redact(f"<{text}>", [secret])], [secret], where=encoding)


@settings(max_examples=100, deadline=None)
@given(secret=_SECRETS, user=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=12))
def test_redact_leaves_no_secret_in_basic_auth(secret: str, user: str) -> None:
    credentials = base64.b64encode(f"{user}:{secret}".encode()).decode()
    assert_no_secret([redact(f"Authorization: Basic {credentials}", [secret])], [secret])


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc", "user:"])
def test_redact_removes_a_secret_base64_encoded_at_any_offset(prefix: str) -> None:
    secret = "s3cr3t/KEY+value=="
    text = base64.b64encode(f"{prefix}{secret}tail".encode()).decode()
    assert_no_secret([redact(text, [secret])], [secret])


@pytest.mark.parametrize("leak", ["%2b%2fs3cr3t", "%252B%252Fs3cr3t", "%252b%252fs3cr3t", "%2B%2Fs3cr3t"])
def test_redact_removes_lower_case_and_double_percent_encoding(leak: str) -> None:
    secret = "+/s3cr3t"
    assert redact(f"?token={leak}&x=1", [secret]) == "?token=***&x=1"


def test_the_scan_finds_a_secret_however_it_was_encoded() -> None:
    secret = "s3cr3t/KEY+value"
    for name, encode in WHOLE_TEXT_ENCODINGS.items():
        for prefix in ("", "a", "ab"):
            with pytest.raises(pytest.fail.Exception):
                assert_no_secret([encode(f"{prefix}{secret}tail")], [secret], where=name)


@pytest.fixture
def scrubber() -> Iterator[SecretScrubber]:
    """A scrubber of its own logger, its record factory removed again afterwards."""
    factory = logging.getLogRecordFactory()
    yield SecretScrubber(loggers=("scrub-test",))
    logging.setLogRecordFactory(factory)


def scrubbed(scrubber: SecretScrubber, message: str) -> str:
    record = logging.LogRecord("scrub-test.child", logging.DEBUG, __file__, 1, message, None, None)
    scrubber.scrub(record)
    return record.getMessage()


def test_the_scrubbers_secrets_stay_bounded_over_many_refreshes(scrubber: SecretScrubber) -> None:
    scrubber.protect(["connection-secret-0123456789"])
    for refresh in range(1000):
        issued = [f"temporary-secret-{refresh:06d}", f"temporary-token-{refresh:06d}"]
        scrubber.protect(issued, temporary=True)

    assert len(scrubber.protected) <= 1 + 2 * SecretScrubber.TEMPORARY_KEPT
    newest = ["temporary-secret-000999", "temporary-token-000999", "temporary-secret-000990"]
    for secret in ["connection-secret-0123456789", *newest]:
        assert scrubbed(scrubber, f"GET /?token={quote(secret, safe='')}&x=1") == "GET /?token=***&x=1"
    assert "temporary-secret-000001" not in scrubber.protected


def test_the_scrubber_redacts_every_protected_secret_in_one_pass(scrubber: SecretScrubber) -> None:
    secrets = [f"secret-number-{n:04d}" for n in range(50)]
    scrubber.protect(secrets)
    message = " ".join(base64.b64encode(f"user:{s}".encode()).decode() for s in secrets)
    assert_no_secret([scrubbed(scrubber, message)], secrets)
