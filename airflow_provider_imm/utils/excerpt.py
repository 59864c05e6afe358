"""A short excerpt of a user's value, one-line text, and an error naming the field, for error messages.

A value can be megabytes long (a TargetURI rendered from ``dag_run.conf``, say) or hold characters
that a log cannot print. Every message that quotes a user's value quotes :func:`excerpt` of it, so a
message stays a few hundred characters whatever the input, costs no more than one pass over the
value to build, and is printable ASCII-safe text (``repr`` escapes lone surrogates and control
characters).
"""

from __future__ import annotations

import reprlib

__all__ = ["MAX_EXCERPT", "FieldError", "excerpt", "one_line"]

#: Characters of a value a message shows; longer values show their start and end.
MAX_EXCERPT = 64
_HEAD = MAX_EXCERPT * 2 // 3
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MAX_EXCERPT
_REPR.maxlevel = 2


def excerpt(value: object) -> str:
    """``repr(value)`` when short; else the start and end of it and the length of ``value``.

    ``'oss://out/{barename}aaaaaaaaaaaaaaaaaaaaaaa'...'aaaaaa.pdf' (10000024 characters)``
    """
    if not isinstance(value, str):
        return _other(value)
    if len(value) <= MAX_EXCERPT:
        shown = repr(value)
        if len(shown) <= 2 * MAX_EXCERPT:
            return shown
    head = _fit(value[:_HEAD], _HEAD, from_end=False)
    tail = _fit(value[-(MAX_EXCERPT - _HEAD) :], MAX_EXCERPT - _HEAD, from_end=True)
    return f"{head}...{tail} ({len(value)} characters)"


def _fit(piece: str, budget: int, *, from_end: bool) -> str:
    """``repr`` of as much of ``piece`` as fits in ``budget`` characters (escapes count)."""
    shown = repr(piece)
    while len(shown) > budget + 2 and piece:
        piece = piece[len(piece) // 2 :] if from_end else piece[: len(piece) // 2]
        shown = repr(piece)
    return shown


def _other(value: object) -> str:
    try:
        shown = _REPR.repr(value)
    except Exception:  # a user's object may fail in __repr__ in any way
        shown = f"<{type(value).__name__} object>"
    return shown if len(shown) <= 2 * MAX_EXCERPT else shown[: 2 * MAX_EXCERPT] + "..."


def one_line(text: str, limit: int = 500) -> str:
    """Collapse whitespace so a message fits one log or UI line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class FieldError(ValueError):
    """A field of a user's settings is invalid; ``field`` names it, the message says what it takes."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
