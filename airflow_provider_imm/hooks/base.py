"""What the IMM and MNS hooks share: the ``imm`` connection, read once and validated, and its
credentials, built once and shared between the two services.

The connection is fetched synchronously (:attr:`ImmBaseHook.settings`) or, on the triggerer's event
loop, with the Task SDK's async lookup (:meth:`ImmBaseHook.aget_settings`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, TypedDict

from airflow.sdk import BaseHook

from airflow_provider_imm.hooks.connection import CONN_TYPE, DEFAULT_CONN_ID, ImmConnectionSettings
from airflow_provider_imm.hooks.credentials import CredentialPool, SigningCredentials

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+; annotations only, so 3.10 never evaluates it

#: Root of the loggers Airflow routes to the task log.
_TASK_LOGGERS = "airflow.task."


class HookOptions(TypedDict, total=False):
    """Keyword arguments every IMM provider hook takes.

    ``settings``: the connection's settings, when already fetched. ``credentials``: the connection's
    credentials, when another hook already has them. ``credential_pool``: where to take the
    connection's credentials from, so that hooks built one after another keep role credentials
    already fetched (by default each hook has its own). ``logger_name``: a name under
    ``airflow.task.hooks``, or a whole task logger name (an operator's own ``log.name``), used as is.
    """

    settings: ImmConnectionSettings | None
    credentials: SigningCredentials | None
    credential_pool: CredentialPool | None
    logger_name: str | None


class ImmBaseHook(BaseHook):
    """The ``imm`` connection's settings and credentials, for the hooks of each service.

    :param imm_conn_id: the ``imm`` connection.
    :param options: see :class:`HookOptions`.
    """

    conn_name_attr = "imm_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE

    def __init__(self, imm_conn_id: str = DEFAULT_CONN_ID, **options: Unpack[HookOptions]) -> None:
        logger_name = options.get("logger_name")
        super().__init__(logger_name=logger_name)
        if logger_name and logger_name.startswith(_TASK_LOGGERS):
            # Prefixing a whole task logger name with airflow.task.hooks again would double it.
            self._log_config_logger_name = None
        self.imm_conn_id = imm_conn_id
        self._settings = options.get("settings")
        self._credentials = options.get("credentials")
        self._credential_pool = options.get("credential_pool")
        self._lock = threading.Lock()
        #: Per-thread state, for SDK clients that are not thread-safe.
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(imm_conn_id={self.imm_conn_id!r})"

    @property
    def settings(self) -> ImmConnectionSettings:
        """The connection, validated (fetched synchronously once per hook)."""
        with self._lock:
            if self._settings is None:
                conn = self.get_connection(self.imm_conn_id)
                self._settings = ImmConnectionSettings.from_connection(conn)
            return self._settings

    async def aget_settings(self) -> ImmConnectionSettings:
        """The connection, validated, fetched without blocking the event loop."""
        if self._settings is None:
            conn = await self.aget_connection(self.imm_conn_id)
            self._settings = ImmConnectionSettings.from_connection(conn)
        return self._settings

    def signing_credentials(self) -> SigningCredentials:
        """The connection's credentials: from the pool if the hook has one, else built once."""
        settings = self.settings
        with self._lock:
            if self._credentials is None:
                if self._credential_pool is not None:
                    self._credentials = self._credential_pool.for_settings(settings)
                else:
                    from airflow_provider_imm.hooks.credentials import build_credential_client

                    self._credentials = SigningCredentials(build_credential_client(settings))
            return self._credentials

    def secrets(self) -> tuple[str, ...]:
        """What to scrub from error text: the connection's secrets and the temporary credentials
        recently signed with (never asks for credentials itself)."""
        known = self._settings.secrets if self._settings is not None else ()
        issued = self._credentials.issued_secrets() if self._credentials is not None else ()
        return known + issued
