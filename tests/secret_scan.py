"""One scan for secrets in any text a test collected, in every encoding a library may log them in.

An HTTP library logs a signed URL percent-encoded (upper- or lower-case escapes, sometimes twice); a
header or body may carry base64 (HTTP Basic auth: ``user:secret``) or JSON-escaped text. The scan does
not list the forms a secret may take (that would repeat the code under test, blind spots included):
it decodes the text every way a library may have encoded it, each base64 run at each of the four
alignments, and looks for the secret in what comes out.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterable, Iterator
from urllib.parse import unquote, unquote_plus

import pytest

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{4,}")
_JSON_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')


def _json_unescaped(text: str) -> str:
    return _JSON_ESCAPE.sub(lambda m: json.loads(f'"{m.group()}"'), text)


def _base64_decoded(text: str) -> Iterator[bytes]:
    """Every base64 run of ``text`` decoded from each of its first four characters (the run may have
    begun before a redaction mark), in both alphabets."""
    for match in _BASE64_RUN.finditer(text):
        run = match.group().replace("-", "+").replace("_", "/")
        for start in range(4):
            body = run[start:]
            body = body[: len(body) - len(body) % 4]
            if body:
                try:
                    yield base64.b64decode(body, validate=True)
                except (binascii.Error, ValueError):
                    continue


def decoded_views(text: str) -> Iterator[tuple[str, str | bytes]]:
    """``text`` decoded every way a library may have encoded a secret in it, by decoding name."""
    percent = {"raw": text, "percent-decoded": unquote(text), "form-decoded": unquote_plus(text)}
    percent["percent-decoded twice"] = unquote(percent["percent-decoded"])
    percent["form-decoded twice"] = unquote_plus(percent["form-decoded"])
    for name, view in percent.items():
        yield name, view
        yield f"JSON-unescaped {name}", _json_unescaped(view)
        for decoded in _base64_decoded(view):
            yield f"base64-decoded {name}", decoded


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str], where: str = "text") -> None:
    """Fail, naming the decoding and the place, if any of ``secrets`` can be recovered from ``texts``."""
    wanted = [(secret, secret.encode()) for secret in secrets]
    for index, text in enumerate(texts):
        for name, view in decoded_views(text):
            for secret, raw in wanted:
                found = raw in view if isinstance(view, bytes) else secret in view
                if found:  # not an assert: pytest would print the secret it compared
                    pytest.fail(f"a secret leaked into {where} #{index}, found in its {name} text")


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
