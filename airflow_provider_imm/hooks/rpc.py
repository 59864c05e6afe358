"""IMM's RPC calls without the IMM SDK: the same requests, signed with ACS3-HMAC-SHA256, sent with
``requests`` (sync) or ``aiohttp`` (async), the HTTP clients the SDK itself sends with.

Why: importing the SDK stack (``alibabacloud_imm20200930.client`` pulls in the OpenAPI core, the
credentials library, Tea, APScheduler, ...) is most of what a task process spends on a mapped IMM
task (see ``benchmarks/task_cost.py`` and the README's "Task cost"). What reaches IMM is what the SDK
would send, byte for byte (``tests/hooks/test_rpc_requests.py`` sends both to the emulator and
compares): the SDK's serialisation facts are in :mod:`airflow_provider_imm.request_models`,
generated from its source, and the signing and header set follow ``alibabacloud_tea_openapi``.

The SDK path stays available: ``AIRFLOW_PROVIDER_IMM_TRANSPORT=sdk`` in the environment.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import platform
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from airflow_provider_imm import sdk
from airflow_provider_imm.hooks.connection import ImmConnectionSettings
from airflow_provider_imm.hooks.failures import answer_fields, answered_error, unanswered_error
from airflow_provider_imm.request_models import MODELS, REQUESTS, Spec

if TYPE_CHECKING:
    import requests

    from airflow_provider_imm.hooks.credentials import SigningCredentials
    from airflow_provider_imm.hooks.exceptions import ImmApiError

API_VERSION = "2020-09-30"
SIGNATURE_ALGORITHM = "ACS3-HMAC-SHA256"
#: Environment variable choosing the transport: ``rpc`` (default) or ``sdk`` (the official SDK client).
TRANSPORT_ENV = "AIRFLOW_PROVIDER_IMM_TRANSPORT"
#: The SDK's timeouts when the connection sets none, in seconds (darabonba's defaults).
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
_FORM = "application/x-www-form-urlencoded"
_XML_ERROR = "text/xml;charset=utf-8"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def first_call_modules(settings: ImmConnectionSettings) -> tuple[str, ...]:
    """The SDK modules the first IMM and MNS calls for ``settings`` import: the IMM SDK only when the
    environment selects it, the credentials library only for the kinds that need it, the MNS SDK (a
    fiftieth of the IMM stack's cost) when the connection names a queue."""
    from airflow_provider_imm.hooks.credentials import STATIC_KINDS

    modules = ["Tea"]
    if sdk_transport_selected():
        modules.append("alibabacloud_imm20200930.client")
    if settings.auth_type not in STATIC_KINDS:
        modules.append("alibabacloud_credentials.client")
    if settings.mns_queue:
        modules.append("mns.account")
    return tuple(modules)


def sdk_transport_selected() -> bool:
    """True when the environment asks for the official SDK client instead of this module."""
    choice = os.environ.get(TRANSPORT_ENV, "rpc").strip().lower()
    if choice not in ("rpc", "sdk"):
        raise ValueError(f"{TRANSPORT_ENV} must be 'rpc' or 'sdk', got {choice[:20]!r}")
    return choice == "sdk"


# Serialisation: what the SDK's request models and *_with_options methods do with a request map.
def _model_map(model: str, value: Any) -> dict[str, Any]:
    """``value`` as ``Model().from_map(value).to_map()``: known keys only, in the model's order, unset
    ones dropped, a list of models always present."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{model} must be a mapping of IMM field names, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for key, spec in MODELS[model]:
        out_value = _field_value(spec, value.get(key))
        if out_value is not None:
            out[key] = out_value
    return out


def _field_value(spec: Spec, value: Any) -> Any:
    if spec[0] == "model":
        return None if value is None else _model_map(spec[1], value)
    if spec[0] == "list" and spec[1][0] == "model":
        return [_model_map(spec[1][1], item or {}) for item in value or ()]
    return value


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    """The SDK's ``Utils.query`` / ``to_form``: nested maps and lists become ``A.B`` / ``A.1`` keys."""
    if value is None:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value, 1):
            _flatten(f"{prefix}.{index}", item, out)
    else:
        out[prefix] = value.decode("utf-8") if isinstance(value, bytes) else str(value)


def to_json(value: Any) -> str:
    """JSON as the SDK writes a "shrink" field: compact, not ASCII-escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_request(action: str, params: Mapping[str, Any]) -> tuple[dict[str, str], str | None]:
    """``(query, form body)`` of ``action`` for ``params`` (IMM field names); the body is None for the
    actions whose fields all go to the query."""
    rows = REQUESTS[action]
    query: dict[str, Any] = {}
    body: dict[str, Any] | None = {} if any(row[3] for row in rows) else None
    for key, spec, json_encoded, in_body in rows:
        value = _field_value(spec, params.get(key))
        if value is None:
            continue
        if json_encoded:
            value = to_json(value)
        target = body if in_body and body is not None else query
        target[key] = value
    flat_query: dict[str, str] = {}
    _flatten("", query, flat_query)
    if body is None:
        return flat_query, None
    flat_body: dict[str, str] = {}
    _flatten("", body, flat_body)
    return flat_query, urlencode({k: flat_body[k] for k in sorted(flat_body)})


# Signing
def canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(f"{key}={quote(query[key], safe='~')}" for key in sorted(query))


def authorization(
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_hash: str,
    key_id: str,
    secret: str,
) -> str:
    """The ``Authorization`` header of ACS3-HMAC-SHA256 over every header in ``headers``."""
    canonical = {name.lower(): str(value).strip() for name, value in headers.items()}
    names = sorted(canonical)
    canonical_headers = "".join(f"{name}:{canonical[name]}\n" for name in names)
    signed = ";".join(names)
    request = f"{method}\n/\n{canonical_query(query)}\n{canonical_headers}\n{signed}\n{payload_hash}"
    to_sign = f"{SIGNATURE_ALGORITHM}\n{hashlib.sha256(request.encode('utf-8')).hexdigest()}"
    signature = hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{SIGNATURE_ALGORITHM} Credential={key_id},SignedHeaders={signed},Signature={signature}"


@functools.cache
def user_agent() -> str:
    """The SDK's default ``user-agent`` (its core's version is the one module read from it)."""
    core = sdk.load("Tea").__version__
    return (
        f"AlibabaCloud ({platform.system()}; {platform.machine()}) "
        f"Python/{platform.python_version()} Core/{core} TeaDSL/2"
    )


@dataclass(frozen=True)
class SignedCall:
    url: str
    #: Kept out of repr: they carry the signature and, for STS credentials, the security token.
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


def sign_call(
    endpoint: str, protocol: str, action: str, params: Mapping[str, Any], credential: Any
) -> SignedCall:
    """The request the SDK would send for ``action``, headers in its order, signed with ``credential``
    (the credentials library's model or :class:`~airflow_provider_imm.hooks.credentials.StaticCredential`)."""
    query, form = encode_request(action, params)
    headers = {
        "host": endpoint,
        "x-acs-version": API_VERSION,
        "x-acs-action": action,
        "user-agent": user_agent(),
        "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": os.urandom(16).hex(),
        "accept": "application/json",
    }
    body = b""
    payload_hash = _EMPTY_SHA256
    if form is not None:
        body = form.encode("utf-8")
        payload_hash = hashlib.sha256(body).hexdigest()
        headers["content-type"] = _FORM
    headers["x-acs-content-sha256"] = payload_hash
    if getattr(credential, "provider_name", None):
        headers["x-acs-credentials-provider"] = credential.provider_name
    if credential.security_token:
        headers["x-acs-accesskey-id"] = credential.access_key_id
        headers["x-acs-security-token"] = credential.security_token
    headers["Authorization"] = authorization(
        "POST", query, headers, payload_hash, credential.access_key_id, credential.access_key_secret
    )
    url = f"{protocol.lower()}://{endpoint.rstrip('/')}/"
    if query:
        url += "?" + urlencode(query)
    return SignedCall(url, headers, body)


# Answers
class CallFailed(Exception):
    """No usable answer: ``inner`` is what failed (credentials, the HTTP library, an unreadable body),
    as the SDK's ``UnretryableException`` carries it."""

    def __init__(self, inner: BaseException) -> None:
        super().__init__(type(inner).__name__)
        self.inner = inner


class ErrorAnswer(Exception):
    """IMM answered 4xx or 5xx: the SDK's ``ClientException`` / ``ServerException`` /
    ``ThrottlingException`` facts."""

    def __init__(self, status: int, data: Mapping[str, Any], retry_after_ms: int | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.data = data
        self.retry_after_ms = retry_after_ms


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        # The SDK's wording, which error diagnosis recognises as an unreadable answer.
        raise RuntimeError(f'Failed to parse the value as json format, Value: "{text}".') from None


def _xml_error(text: str) -> dict[str, Any]:
    from xml.etree import ElementTree

    root = ElementTree.fromstring(text)
    return {child.tag: child.text for child in root} if root.tag == "Error" else {}


def retry_after(headers: Mapping[str, str]) -> int | None:
    """``x-acs-retry-after`` in ms when it is a positive integer, as the SDK reads it."""
    try:
        value = int(headers.get("x-acs-retry-after") or "")
    except ValueError:
        return None
    return value if value > 0 else None


def read_answer(status: int, headers: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    """The answer's JSON body; raises :class:`ErrorAnswer` for 4xx/5xx (``headers`` lower-cased)."""
    text = raw.decode("utf-8")
    if 400 <= status < 600:
        if headers.get("content-type") == _XML_ERROR:
            data = _xml_error(text)
        else:
            parsed = parse_json(text)
            data = parsed if isinstance(parsed, dict) else {}
        raise ErrorAnswer(status, data, retry_after(headers))
    body = parse_json(text)
    return body if isinstance(body, dict) else {}


def _answer(status: int, headers: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    try:
        return read_answer(status, headers, raw)
    except ErrorAnswer:
        raise
    except Exception as exc:  # not UTF-8, not JSON, not XML: the SDK's reading fails the same way
        raise CallFailed(exc) from exc


def translate_rpc_error(
    exc: BaseException, action: str, settings: ImmConnectionSettings, *, extra_secrets: tuple[str, ...] = ()
) -> ImmApiError:
    """One ImmApiError for a failure of :class:`RpcClient`, as ``translate_sdk_error`` gives for the
    SDK's; re-raises anything else (a bug, or a request the caller got wrong)."""
    from airflow_provider_imm.hooks.exceptions import ImmApiError

    if isinstance(exc, ImmApiError):
        return exc
    if isinstance(exc, ErrorAnswer):
        code, message, request_id = answer_fields(exc.status, exc.data)
        return answered_error(
            action,
            exc.data,
            code=code,
            message=message,
            request_id=request_id,
            status=exc.status,
            retry_after_ms=exc.retry_after_ms,
            throttled=exc.retry_after_ms is not None,
            settings=settings,
            secrets=settings.secrets + extra_secrets,
        )
    if isinstance(exc, CallFailed):
        return unanswered_error(exc.inner, action, settings, extra_secrets)
    raise exc


def _proxy(protocol: str) -> str | None:
    if protocol.lower() == "https":
        return os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    return os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy")


class RpcClient:
    """Calls IMM's RPC actions for one connection; sync calls keep one ``requests`` session per thread."""

    def __init__(self, settings: ImmConnectionSettings, credentials: SigningCredentials) -> None:
        self.settings = settings
        self.credentials = credentials
        self._local = threading.local()
        connect = settings.connect_timeout or DEFAULT_CONNECT_TIMEOUT
        read = settings.read_timeout or DEFAULT_READ_TIMEOUT
        # As the SDK passes them: whole milliseconds.
        self._timeouts = (int(connect * 1000) / 1000, int(read * 1000) / 1000)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings.protocol}://{self.settings.imm_endpoint})"

    def _sign(self, action: str, params: Mapping[str, Any], credential: Any) -> SignedCall:
        return sign_call(self.settings.imm_endpoint, self.settings.protocol, action, params, credential)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
        return session

    def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``action`` with ``params`` (IMM field names): IMM's answer body."""
        import requests

        try:
            credential = self.credentials.get_credential()
        except Exception as exc:
            raise CallFailed(exc) from exc
        signed = self._sign(action, params, credential)
        prepared = requests.PreparedRequest()
        proxy = _proxy(self.settings.protocol)
        try:
            prepared.prepare(method="POST", url=signed.url, data=signed.body, headers=signed.headers)
            response = self._session().send(
                prepared,
                proxies={self.settings.protocol.lower(): proxy} if proxy else {},
                timeout=self._timeouts,
            )
            raw = response.content
        except Exception as exc:
            raise CallFailed(exc) from exc
        headers = {k.lower(): v for k, v in response.headers.items()}
        return _answer(response.status_code, headers, raw)

    async def acall(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Async :meth:`call`, with one aiohttp session per call, as the SDK does."""
        import aiohttp

        try:
            credential = await self.credentials.get_credential_async()
        except Exception as exc:
            raise CallFailed(exc) from exc
        signed = self._sign(action, params, credential)
        connect, read = self._timeouts
        https = self.settings.protocol.lower() == "https"
        try:
            connector = aiohttp.TCPConnector(ssl=_ssl_context() if https else False)
            timeout = aiohttp.ClientTimeout(sock_read=read, sock_connect=connect)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.post(
                    signed.url,
                    data=signed.body,
                    headers=signed.headers,
                    proxy=_proxy(self.settings.protocol),
                    timeout=timeout,
                ) as response,
            ):
                raw = await response.read()
                status = response.status
                headers = {k.lower(): v for k, v in response.headers.items()}
        except Exception as exc:
            raise CallFailed(exc) from exc
        return _answer(status, headers, raw)


@functools.cache
def _ssl_context() -> Any:
    """Trust as the SDK's async path does: certifi's bundle."""
    import ssl

    import certifi

    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=certifi.where())
