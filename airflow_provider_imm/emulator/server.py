"""The emulator process: one aiohttp server on loopback serving IMM, MNS and an admin API.

:class:`ImmEmulator` runs either on the caller's event loop (``await start_async()``) or in a
background thread with a loop of its own (``start()`` / context manager), so synchronous SDK calls
in a test's thread and async SDK calls in a test's loop both reach it over real HTTP. Service
state is only touched on the server loop; :meth:`ImmEmulator.call` runs a function there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import ipaddress
import json
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from airflow_provider_imm.emulator.accounts import Accounts
from airflow_provider_imm.emulator.admin_api import add_admin_routes
from airflow_provider_imm.emulator.clock import EmulatedClock
from airflow_provider_imm.emulator.context import ServiceContext
from airflow_provider_imm.emulator.counters import CallCounters
from airflow_provider_imm.emulator.faults import Faults
from airflow_provider_imm.emulator.flow_control import FlowControl
from airflow_provider_imm.emulator.guard import check_loopback, guard
from airflow_provider_imm.emulator.imm_api import ImmService
from airflow_provider_imm.emulator.mns_api import MnsService
from airflow_provider_imm.emulator.oss import LocalOss
from airflow_provider_imm.emulator.oss_api import OssService
from airflow_provider_imm.emulator.oss_events import OssEventRule
from airflow_provider_imm.emulator.oss_notification import OssEventNotifier
from airflow_provider_imm.emulator.rocketmq_store import MIN_INVISIBLE, RocketMqStore
from airflow_provider_imm.emulator.sts_api import StsService
from airflow_provider_imm.utils.excerpt import excerpt

T = TypeVar("T")

#: AccessKey ID the emulator accepts unless told otherwise.
DEFAULT_ACCESS_KEY_ID = "LTAI5tEmulatorKeyId"
#: Its secret: a well-known test key, printed at start, not a secret of anyone's.
DEFAULT_ACCESS_KEY_SECRET = "emulator-secret-do-not-use"
#: The IMM project the emulator serves unless told otherwise.
DEFAULT_PROJECT = "test-project"
DEFAULT_REGION = "cn-hangzhou"
DEFAULT_ACCOUNT_ID = "1234567890123456"
#: The emulated ApsaraMQ for RocketMQ instance, and its instance username and password (test values).
DEFAULT_ROCKETMQ_INSTANCE = "rmq-cn-emulator"
DEFAULT_ROCKETMQ_USERNAME = "rmq-emulator-user"
DEFAULT_ROCKETMQ_PASSWORD = "rmq-emulator-password-do-not-use"


def emulator_connection(
    url: str,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    access_key_id: str | None = DEFAULT_ACCESS_KEY_ID,
    access_key_secret: str | None = DEFAULT_ACCESS_KEY_SECRET,
    project: str | None = DEFAULT_PROJECT,
    mns_topic: str | None = "imm-events",
    mns_queue: str | None = "airflow-imm",
    mns_subscription: str | None = "airflow-imm",
    **extras: Any,
) -> str:
    """The ``imm`` connection to the emulator at ``url`` (``http://host:port``), as JSON that
    ``AIRFLOW_CONN_<ID>`` takes: for processes that know only the emulator's address.

    ``extras`` add to or override the connection's extras (``protocol``, ``retry_max_delay``...);
    any option given as None is left out (a connection without MNS: ``mns_topic=None, mns_queue=None,
    mns_subscription=None``).
    """
    fields: dict[str, Any] = {
        "endpoint": url.removeprefix("http://"),
        "protocol": "http",
        "region": region,
        "project": project,
        "account_id": account_id,
        "mns_endpoint": url,
        "mns_topic": mns_topic,
        "mns_queue": mns_queue,
        "mns_subscription": mns_subscription,
    }
    fields.update(extras)
    connection = {
        "conn_type": "imm",
        "login": access_key_id,
        "password": access_key_secret,
        "extra": {k: v for k, v in fields.items() if v is not None},
    }
    return json.dumps({k: v for k, v in connection.items() if v is not None})


def emulator_oss_connection(
    oss_url: str,
    *,
    region: str = DEFAULT_REGION,
    access_key_id: str = DEFAULT_ACCESS_KEY_ID,
    access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET,
    bucket: str | None = None,
) -> str:
    """The ``oss`` connection of the official Alibaba provider's ``OSSHook`` to the emulator's OSS at
    ``oss_url`` (``http://127.0.0.1:port``), as JSON that ``AIRFLOW_CONN_<ID>`` takes.

    Shaped by what ``OSSHook`` (apache-airflow-providers-alibaba 3.x, on alibabacloud-oss-v2) reads:
    only extras (``auth_type``, which must be ``AK``; ``access_key_id``, ``access_key_secret``;
    ``region``, required; ``endpoint``), and the schema as the default bucket; it ignores login and
    password. The SDK keeps the endpoint's ``http://``, and addresses an IP-literal host path-style
    (``/bucket/key``) but any host name virtual-hosted (``bucket.host``), which OSSHook cannot
    change: so the host must be an IP address.
    """
    parts = urlsplit(oss_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            f"oss_url: {excerpt(oss_url)} is not an http(s) URL with a host; pass e.g. http://127.0.0.1:8766"
        )
    if not _is_ip_literal(parts.hostname):
        raise ValueError(
            f"oss_url: host {excerpt(parts.hostname)} is a name, and OSSHook's client would send "
            "requests to <bucket>.<host> (virtual-hosted style); use an IP address such as 127.0.0.1"
        )
    connection = {
        "conn_type": "oss",
        "schema": bucket,
        "extra": {
            "auth_type": "AK",
            "access_key_id": access_key_id,
            "access_key_secret": access_key_secret,
            "region": region,
            "endpoint": oss_url.rstrip("/"),
        },
    }
    return json.dumps({k: v for k, v in connection.items() if v is not None})


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class EmulatorInfo:
    """What a client needs to reach the emulator; the secret is the emulator's test key, not a user's."""

    endpoint: str
    url: str
    region: str
    account_id: str
    access_key_id: str
    access_key_secret: str
    projects: list[str]
    oss_root: str
    #: OSS's REST API (path-style), on a port of its own: ``/bucket/key`` would collide with MNS's paths.
    oss_url: str
    #: RocketMQ 5's gRPC endpoint (``host:port``) with its instance and credentials; None without
    #: the ``rocketmq`` extra.
    rocketmq_endpoint: str | None = None
    rocketmq_instance_id: str | None = None
    rocketmq_username: str | None = None
    rocketmq_password: str | None = None


class ImmEmulator:
    """IMM + MNS + OSS on ``127.0.0.1``.

    ``host`` must be a loopback address (or ``localhost``): anything else raises ``ValueError``.

    ``root`` is the OSS folder (a temporary one if omitted), also served through OSS's REST API on
    ``oss_port`` (0: a free one; see :attr:`oss_url`). ``task_duration`` is the default
    seconds an IMM task runs before it ends. The key pair ``access_key_id``/``access_key_secret``
    is accepted from the start; add more with ``accounts.add_key`` / ``accounts.add_sts``.

    ``imm_rates`` and ``mns_rates`` limit actions to so many calls per second (flow control, off by
    default; see :meth:`set_rates`); ``retry_after`` makes IMM's throttled answers carry
    ``x-acs-retry-after``, which IMM does not document.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        oss_port: int = 0,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        access_key_id: str = DEFAULT_ACCESS_KEY_ID,
        access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET,
        projects: tuple[str, ...] = (DEFAULT_PROJECT,),
        task_duration: float = 0.05,
        imm_rates: Mapping[str, float | None] | None = None,
        mns_rates: Mapping[str, float | None] | None = None,
        retry_after: bool = False,
        rocketmq_port: int = 0,
        rocketmq_instance_id: str = DEFAULT_ROCKETMQ_INSTANCE,
        rocketmq_username: str = DEFAULT_ROCKETMQ_USERNAME,
        rocketmq_password: str = DEFAULT_ROCKETMQ_PASSWORD,
        rocketmq_min_invisible: float = MIN_INVISIBLE,
    ) -> None:
        check_loopback(host)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="imm-emulator-")
            root = self._tmp.name
        self.host = host
        self.requested_port = port
        self.port = 0
        self.requested_oss_port = oss_port
        self.oss_port = 0
        self.region = region
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.clock = EmulatedClock()
        self.counters = CallCounters()
        self.faults = Faults()
        self.accounts = Accounts(account_id)
        self.accounts.add_key(access_key_id, access_key_secret)
        self.oss = LocalOss(root)
        self.context = ServiceContext(
            region, self.accounts, self.clock, self.counters, self.faults, self.oss, self.call
        )
        self.mns = MnsService(self.context)
        self.rocketmq = RocketMqStore(rocketmq_instance_id, min_invisible=rocketmq_min_invisible)
        self.requested_rocketmq_port = rocketmq_port
        self.rocketmq_port = 0
        self.rocketmq_username = rocketmq_username
        self.rocketmq_password = rocketmq_password
        self._grpc_server: Any = None
        self.imm = ImmService(
            self.context,
            self.mns.publish,
            task_duration=task_duration,
            publish_rocketmq=self._publish_rocketmq,
        )
        self.sts = StsService(self.context)
        self.oss_api = OssService(self.context)
        self.oss_events = OssEventNotifier(self.context, self.mns.store)
        for project in projects:
            self.imm.add_project(project)
        self.set_rates("imm", imm_rates or {}, retry_after=retry_after)
        self.set_rates("mns", mns_rates or {})
        self._runner: web.AppRunner | None = None
        self._oss_runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None

    # Addresses
    @property
    def endpoint(self) -> str:
        """``host:port``, as the IMM SDK's ``Config.endpoint`` takes it (with ``protocol='http'``)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://host:port``, as the MNS SDK's ``Account`` takes it."""
        return f"http://{self.host}:{self.port}"

    @property
    def oss_url(self) -> str:
        """``http://host:port`` of OSS's REST API, as ``alibabacloud-oss-v2``'s ``Config.endpoint`` takes
        it: an IP address makes the SDK address buckets path-style (``/bucket/key``)."""
        return f"http://{self.host}:{self.oss_port}"

    @property
    def rocketmq_endpoint(self) -> str | None:
        """``host:port`` of RocketMQ's gRPC service, as the client's ``ClientConfiguration`` takes it;
        None when not serving (no ``rocketmq`` extra)."""
        return f"{self.host}:{self.rocketmq_port}" if self.rocketmq_port else None

    def _rocketmq_secret(self, user: str) -> str | None:
        if user == self.rocketmq_username:
            return self.rocketmq_password
        key = self.accounts.lookup(user)
        return key.secret if key is not None and key.security_token is None else None

    def _publish_rocketmq(self, target: str, body: str) -> bool:
        instance, _, topic = target.partition("/")
        if instance != self.rocketmq.instance_id or not self.rocketmq.has_topic(topic):
            return False
        self.rocketmq.send(topic, body.encode())
        return True

    @property
    def account_id(self) -> str:
        return self.accounts.account_id

    def airflow_connections(
        self,
        conn_id: str = "imm_default",
        *,
        oss_conn_id: str | None = "oss_default",
        oss_bucket: str | None = None,
        **options: Any,
    ) -> dict[str, str]:
        """Connections to this emulator by conn id, as ``AIRFLOW_CONN_<ID>`` takes them, for DAG tests::

            for conn_id, value in emulator.airflow_connections().items():
                monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)

        ``conn_id``: the ``imm`` connection of this provider's hooks; ``options`` are
        :func:`emulator_connection`'s (``project``, ``mns_queue``, ``protocol``, other extras; None
        leaves one out). ``oss_conn_id``: the ``oss`` connection of the Alibaba provider's ``OSSHook``
        to the emulator's OSS (:func:`emulator_oss_connection`; ``oss_bucket`` its default bucket),
        always with the emulator's own key pair and region; None leaves it out.
        """
        options = {
            "region": self.region,
            "account_id": self.account_id,
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            **options,
        }
        connections = {conn_id: emulator_connection(self.url, **options)}
        if oss_conn_id is not None:
            connections[oss_conn_id] = emulator_oss_connection(
                self.oss_url,
                region=self.region,
                access_key_id=self.access_key_id,
                access_key_secret=self.access_key_secret,
                bucket=oss_bucket,
            )
        return connections

    # OSS event notification rules (on a started emulator)
    def add_oss_event_rule(
        self,
        name: str,
        *,
        topic: str,
        bucket: str,
        prefix: str = "",
        suffix: str = "",
        events: tuple[str, ...] | list[str] = ("ObjectCreated:*",),
        base64: bool = True,
    ) -> OssEventRule:
        """Publish OSS's event message to MNS ``topic`` (created if missing) for every change of
        ``events`` (``ObjectCreated:*``, ``ObjectRemoved:DeleteObject``...) to an object of ``bucket``
        whose key starts with ``prefix`` and ends with ``suffix``, whatever makes it: the OSS API, an
        IMM task's outputs, the admin API. Bad input raises
        :class:`~airflow_provider_imm.emulator.oss_events.OssEventRuleError` naming the field.
        """
        listed = tuple(events) if isinstance(events, list) else events  # a str is refused, not split
        rule = OssEventRule(name, topic, bucket, prefix, suffix, listed, base64)
        return self.oss_events.add_rule(rule)

    def remove_oss_event_rule(self, name: str) -> bool:
        """Remove the rule called ``name``; False when there was none."""
        return self.oss_events.remove_rule(name)

    def oss_event_rules(self) -> list[OssEventRule]:
        return self.oss_events.rules()

    def info(self) -> dict[str, Any]:
        """Where the emulator listens and the credentials it accepts, as JSON (the command's start
        line and ``GET /_emulator/info``)."""
        on_loop = self._loop is not None
        info = EmulatorInfo(
            endpoint=self.endpoint,
            url=self.url,
            region=self.region,
            account_id=self.account_id,
            access_key_id=self.access_key_id,
            access_key_secret=self.access_key_secret,
            projects=self.call(self.imm.project_names) if on_loop else self.imm.project_names(),
            oss_root=str(self.oss.root),
            oss_url=self.oss_url,
            rocketmq_endpoint=self.rocketmq_endpoint,
            rocketmq_instance_id=self.rocketmq.instance_id if self.rocketmq_endpoint else None,
            rocketmq_username=self.rocketmq_username if self.rocketmq_endpoint else None,
            rocketmq_password=self.rocketmq_password if self.rocketmq_endpoint else None,
        )
        return dataclasses.asdict(info)

    # Flow control
    def flow_control(self, service: str) -> FlowControl:
        """The limits of ``service`` (``"imm"`` or ``"mns"``)."""
        controls = {"imm": self.imm.flow_control, "mns": self.mns.flow_control}
        if service not in controls:
            raise ValueError(f"service must be 'imm' or 'mns', got {service!r:.40}")
        return controls[service]

    def set_rates(
        self, service: str, rates: Mapping[str, float | None], *, retry_after: bool | None = None
    ) -> None:
        """Limit actions of ``service`` to calls per second, e.g. ``set_rates("imm",
        {"CreateOfficeConversionTask": 20})``; None removes an action's limit. Past its limit a call
        answers as the service does (IMM: HTTP 400 ``Throttling.User``; MNS: ``QpsLimitExceeded``).

        ``retry_after`` (IMM only): whether throttled answers carry ``x-acs-retry-after`` (None: unchanged).
        """
        control = self.flow_control(service)
        if retry_after is not None and service != "imm":
            raise ValueError("retry_after applies to IMM only: MNS has no retry-after header")
        if retry_after is not None and not isinstance(retry_after, bool):
            raise ValueError(f"retry_after must be true or false, got {retry_after!r:.40}")
        control.set_rates(rates)
        if retry_after is not None:
            control.retry_after = retry_after

    # Lifecycle on the caller's loop
    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[guard(self.region)])
        app.router.add_post("/", self.imm.handle)
        app.router.add_get("/", self.sts.handle)  # STS: alibabacloud-credentials sends GET /?Action=...
        self.mns.add_routes(app.router)
        add_admin_routes(app.router, self)
        return app

    async def start_async(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._oss_runner = web.AppRunner(self.oss_api.build_app(), access_log=None, handle_signals=False)
        await self._oss_runner.setup()
        oss_site = web.TCPSite(self._oss_runner, self.host, self.requested_oss_port, backlog=1024)
        await oss_site.start()
        assert oss_site._server is not None
        self.oss_port = oss_site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        await self._start_rocketmq()

    async def _start_rocketmq(self) -> None:
        """RocketMQ's gRPC server on this loop, when the ``rocketmq`` extra is installed."""
        try:
            import grpc

            from airflow_provider_imm.emulator.rocketmq_api import RocketMqService
        except ImportError:
            return
        server = grpc.aio.server()
        count = functools.partial(self.counters.incr, "rocketmq")
        RocketMqService(self.rocketmq, self._rocketmq_secret, count).add_to(server)
        self.rocketmq_port = server.add_insecure_port(f"{self.host}:{self.requested_rocketmq_port}")
        await server.start()
        self._grpc_server = server

    async def stop_async(self) -> None:
        await self.imm.shutdown()
        await self.mns.shutdown()
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace=None)
            self._grpc_server = None
        for runner in (self._oss_runner, self._runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._oss_runner = None

    # Lifecycle in a background thread
    def start(self) -> ImmEmulator:
        """Serve from a daemon thread with its own event loop; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(started))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="imm-emulator", daemon=True)
        self._thread.start()
        started.result(timeout=30)
        return self

    async def _serve(self, started: concurrent.futures.Future[None]) -> None:
        try:
            self._stop_event = asyncio.Event()
            await self.start_async()
        except BaseException as err:
            started.set_exception(err)
            return
        started.set_result(None)
        await self._stop_event.wait()
        await self.stop_async()

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(timeout=30)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ImmEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> ImmEmulator:
        await self.start_async()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the server loop and return its result (thread-safe state access)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("emulator not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn(*args)

        async def invoke() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(invoke(), loop).result(timeout=30)
