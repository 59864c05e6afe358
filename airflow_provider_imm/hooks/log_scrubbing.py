"""Keeps the connections' secrets out of the log records of the libraries the hooks call.

The HTTP libraries log every request line at DEBUG: for STS that is the signed AssumeRole URL, with
the base credentials' ``SecurityToken`` percent-encoded in it, on every refresh. The credentials
library logs refresh failures with tracebacks quoting the same URL. Those records are scrubbed where
they are made, by wrapping ``logging``'s record factory: a ``logging.Filter`` on a logger does not see
the records of its child loggers (``urllib3.connectionpool`` under ``urllib3``), and a handler filter
would only protect handlers it is added to. Only records of the libraries' loggers are touched.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from airflow_provider_imm.hooks.errors import REDACTED, secrets_pattern

#: Loggers (and their children) of the libraries between the hooks and the services.
LIBRARY_LOGGERS: tuple[str, ...] = (
    "urllib3", "requests", "aiohttp", "asyncio", "credentials", "alibabacloud", "Tea", "darabonba", "mns",
    "rocketmq-python-client", "grpc",
)  # fmt: skip
#: The credentials library's logger, which also gets stderr handlers of its own.
_CREDENTIALS_LOGGER = "credentials"


class SecretScrubber:
    """Redacts every protected secret, in every encoding, from the libraries' log records.

    Secrets shorter than :attr:`MIN_LENGTH` are left alone: they would mangle unrelated text, and
    real secrets and tokens are longer. The connections' secrets are kept for the process; temporary
    ones (each STS refresh issues a new secret and token) only for the last :attr:`TEMPORARY_KEPT`
    refreshes, so a triggerer running for weeks does not scrub an ever longer list. All of them are
    matched by one regular expression, rebuilt when the set changes, in one pass over a record.
    """

    MIN_LENGTH = 8
    #: Temporary credential sets kept: the ones in use by several role connections, and those just
    #: replaced (``SigningCredentials.REMEMBERED`` per connection), whose requests may still be logged.
    TEMPORARY_KEPT = 16

    def __init__(self, loggers: tuple[str, ...] = LIBRARY_LOGGERS) -> None:
        self._prefixes = loggers
        self._lock = threading.Lock()
        self._permanent: frozenset[str] = frozenset()
        self._temporary: deque[frozenset[str]] = deque(maxlen=self.TEMPORARY_KEPT)
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._installed = False

    @property
    def protected(self) -> frozenset[str]:
        """The secrets scrubbed now."""
        return self._secrets

    def protect(self, secrets: Iterable[str | None], *, temporary: bool = False) -> None:
        """Scrub ``secrets`` from now on (installing the scrubbing on first use); ``temporary`` ones
        only until :attr:`TEMPORARY_KEPT` newer temporary sets have been protected."""
        new = frozenset(s for s in secrets if s and len(s) >= self.MIN_LENGTH)
        with self._lock:
            if not self._installed:
                self._install()
            _drop_library_stream_handlers()
            if temporary:
                if new and new not in self._temporary:
                    self._temporary.append(new)
            else:
                self._permanent |= new
            protected = self._permanent.union(*self._temporary)
            if protected != self._secrets:
                self._secrets, self._pattern = protected, secrets_pattern(protected)

    def _install(self) -> None:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            self.scrub(record)
            return record

        logging.setLogRecordFactory(factory)
        self._installed = True

    def _watches(self, name: str | None) -> bool:
        # ``logging.makeLogRecord`` makes records without a name, then sets their attributes.
        return bool(name) and any(
            name == p or str(name).startswith((p + ".", p + "-", p + "_")) for p in self._prefixes
        )

    def scrub(self, record: logging.LogRecord) -> None:
        """Rewrite ``record`` in place if its text holds a protected secret."""
        pattern = self._pattern
        if pattern is None or not self._watches(record.name):
            return
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: keep its parts apart, still scrubbed
            message = f"{record.msg} {record.args}"
        details = ""
        if record.exc_info and record.exc_info[1] is not None:
            details = logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            details = record.exc_text
        clean_message, clean_details = pattern.sub(REDACTED, message), pattern.sub(REDACTED, details)
        stack = record.stack_info and pattern.sub(REDACTED, record.stack_info)
        if (clean_message, clean_details, stack) == (message, details, record.stack_info):
            return
        record.msg, record.args = clean_message, ()
        record.exc_info, record.exc_text = None, clean_details or None
        record.stack_info = stack


def _drop_library_stream_handlers() -> None:
    """The credentials library adds stderr handlers of its own as its modules load (so each failure
    prints several times, and a stale stream makes ``logging`` dump the raw exception chain); its
    records reach the application's logging like any other instead."""
    logger = logging.getLogger(_CREDENTIALS_LOGGER)
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:
            logger.removeHandler(handler)


_scrubber = SecretScrubber()
#: Scrub these secrets from the libraries' logs, process-wide.
protect_secrets = _scrubber.protect
