"""One scan for secrets in any text a test collected, in every encoding a library may log them in.

An HTTP library logs a signed URL percent-encoded; a body or header may carry base64 or JSON-escaped
text. A secret must appear in none of those forms, so every check goes through :func:`assert_no_secret`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import pytest


def encodings(secret: str) -> dict[str, str]:
    """``secret`` as each encoding writes it, by encoding name."""
    raw = secret.encode()
    forms = {
        "raw": secret,
        "percent-encoded": quote(secret, safe=""),
        "percent-encoded (path)": quote(secret),
        "form-encoded": quote_plus(secret),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "urlsafe base64": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "JSON-escaped": json.dumps(secret)[1:-1],
    }
    return forms


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str], where: str = "text") -> None:
    """Fail, naming the encoding and the place, if any of ``secrets`` is in any of ``texts``."""
    checks = [(name, form) for secret in secrets for name, form in encodings(secret).items()]
    for index, text in enumerate(texts):
        for name, form in checks:
            if form in text:  # not an assert: pytest would print the secret it compared
                pytest.fail(
                    f"a secret leaked, {name}, into {where} #{index}: ...{_before(text, form)}<secret>"
                )


def _before(text: str, form: str) -> str:
    at = text.index(form)
    return text[max(0, at - 60) : at]


def record_texts(records: Iterable[logging.LogRecord]) -> list[str]:
    """Everything a handler could print of each record: message, raw args, exception text."""
    texts = []
    for record in records:
        parts = [str(record.msg), record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(logging.Formatter().formatException(record.exc_info))
        texts.append("\n".join(parts))
    return texts


class RootCapture(logging.Handler):
    """A handler on the root logger at DEBUG: every logger's records reach it, filtered or not."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> RootCapture:
        root = logging.getLogger()
        self._level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)
