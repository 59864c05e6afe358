"""IMM's TargetURI template: parse, check and expand it without any I/O.

The syntax is Python's ``str.format``: ``{name}`` is filled in by IMM per output, ``{{`` and ``}}``
are literal braces, request Tags are ``{tags.<key>}``. The emulator expands templates with
:func:`expand_target_uri` to name outputs; the operator checks them with :func:`check_target_uri`
before any API call; lineage uses the expansion to name output datasets.
"""

from __future__ import annotations

import posixpath
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

_FORMATTER = string.Formatter()


class TargetUriTemplateError(ValueError):
    """A TargetURI template is malformed or uses a variable it may not use."""


@dataclass(frozen=True)
class TemplateVariable:
    """One ``{...}`` placeholder: ``name`` is ``barename`` or, for tags, ``tags.<tag>``."""

    name: str

    @property
    def tag(self) -> str | None:
        return self.name[len("tags.") :] if self.name.startswith("tags.") else None


def parse_target_uri(template: str, *, field: str = "TargetURI") -> list[TemplateVariable]:
    """Return the template's variables in order; raise on unbalanced braces or format specs."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as err:
        raise TargetUriTemplateError(
            f"{field} {template!r} has unbalanced braces ({err}): IMM variables are written "
            "'{name}', a literal brace is '{{' or '}}'"
        ) from None
    variables = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise TargetUriTemplateError(
                f"{field} {template!r} has an empty or positional placeholder '{{{name}}}': "
                "name an IMM variable such as '{barename}'"
            )
        if spec or conversion:
            raise TargetUriTemplateError(
                f"{field} {template!r}: placeholder '{{{name}}}' has a format spec or conversion, "
                "which IMM does not support; write '{" + name.split("!")[0] + "}'"
            )
        if "[" in name or (name.count(".") and not name.startswith("tags.")) or name == "tags.":
            raise TargetUriTemplateError(
                f"{field} {template!r}: '{{{name}}}' is not an IMM variable; only tags have a dotted "
                "form, '{tags.<key>}'"
            )
        variables.append(TemplateVariable(name))
    return variables


def check_target_uri(
    template: str,
    allowed: Iterable[str],
    *,
    tags: Mapping[str, object] | None,
    has_tags: bool,
    field: str = "TargetURI",
) -> list[TemplateVariable]:
    """Check every variable against the operation's set and the request's Tags.

    ``tags`` is the request's Tags (``None`` when absent); ``has_tags`` says whether the operation
    accepts Tags at all.
    """
    allowed_set = frozenset(allowed)
    variables = parse_target_uri(template, field=field)
    for var in variables:
        tag = var.tag
        if tag is not None:
            if not has_tags:
                raise TargetUriTemplateError(
                    f"{field} uses '{{{var.name}}}' but this operation takes no Tags: "
                    "remove the tag variable"
                )
            if tags is None or tag not in tags:
                present = ", ".join(sorted(tags)) if tags else "none"
                raise TargetUriTemplateError(
                    f"{field} uses '{{{var.name}}}' but the request has no tag {tag!r} "
                    f"(tags present: {present}): add Tags={{{tag!r}: ...}} or change the variable"
                )
        elif var.name not in allowed_set:
            import difflib

            close = difflib.get_close_matches(var.name, sorted(allowed_set), n=1)
            hint = f"did you mean '{{{close[0]}}}'? " if close else ""
            raise TargetUriTemplateError(
                f"{field} uses '{{{var.name}}}', which this operation does not offer: {hint}"
                f"valid variables are {', '.join('{' + v + '}' for v in sorted(allowed_set))}"
            )
    return variables


def source_variables(
    bucket: str,
    key: str,
    *,
    uploaded: datetime,
    created: datetime,
    ext: str | None = None,
) -> dict[str, str]:
    """The variables every operation derives from a source object and the task's creation time."""
    dirname, basename = posixpath.split(key)
    barename, dot, key_ext = basename.rpartition(".")
    if not dot:
        barename, key_ext = basename, ""
    return {
        "bucket": bucket,
        "key": key,
        "dirname": dirname,
        "basename": basename,
        "barename": barename,
        "ext": ext if ext is not None else key_ext,
        **_time_variables("", uploaded),
        **_time_variables("t_", created),
    }


def _time_variables(prefix: str, when: datetime) -> dict[str, str]:
    return {
        f"{prefix}year": f"{when.year:04d}",
        f"{prefix}mon": f"{when.month:02d}",
        f"{prefix}day": f"{when.day:02d}",
        f"{prefix}hour": f"{when.hour:02d}",
        f"{prefix}min": f"{when.minute:02d}",
        f"{prefix}sec": f"{when.second:02d}",
    }


def expand_target_uri(
    template: str, variables: Mapping[str, str], tags: Mapping[str, object] | None = None
) -> str:
    """Fill in the template as IMM does for one output; a missing variable raises."""
    parse_target_uri(template)
    values: dict[str, object] = dict(variables)
    values["tags"] = _Tags(tags or {})
    try:
        return _FORMATTER.vformat(template, (), values)
    except KeyError as err:
        raise TargetUriTemplateError(f"TargetURI {template!r}: no value for variable {err.args[0]!r}") from None


class _Tags:
    """Makes ``{tags.x}`` resolve through attribute access, as ``str.format`` does."""

    def __init__(self, tags: Mapping[str, object]) -> None:
        self._tags = tags

    def __getattr__(self, name: str) -> str:
        try:
            return str(self._tags[name])
        except KeyError:
            raise KeyError(f"tags.{name}") from None
