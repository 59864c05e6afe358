"""IMM's TargetURI template: parse, check and expand it without any I/O.

The syntax is Python's ``str.format``: ``{name}`` is filled in by IMM per output, ``{{`` and ``}}``
are literal braces, request Tags are ``{tags.<key>}``. IMM supports nothing else of ``str.format``
(no positional fields, indexing, attribute chains, conversions or format specs), so those are
rejected here rather than by the service after the task was submitted. The emulator expands
templates with :func:`expand_target_uri` to name outputs; the operator checks them with
:func:`check_target_uri` before any API call; lineage uses the expansion to name output datasets.
"""

from __future__ import annotations

import difflib
import itertools
import posixpath
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from airflow_provider_imm.utils.excerpt import excerpt

_FORMATTER = string.Formatter()
_TAG_PREFIX = "tags."
_SYNTAX_HINT = "IMM variables are written '{name}', a literal brace is '{{' or '}}'"


class TargetUriTemplateError(ValueError):
    """A TargetURI template is malformed or uses a variable it may not use."""


@dataclass(frozen=True)
class TemplateVariable:
    """One ``{...}`` placeholder: ``name`` is ``barename`` or, for tags, ``tags.<tag>``."""

    name: str

    @property
    def tag(self) -> str | None:
        return self.name[len(_TAG_PREFIX) :] if self.name.startswith(_TAG_PREFIX) else None


@dataclass(frozen=True)
class _Parsed:
    """A template split at its placeholders: ``literals[i]`` precedes ``names[i]`` (``None`` at the
    end); literal braces already unescaped. Plain lists of strings, so that a template of a million
    placeholders makes no million objects for the garbage collector to walk."""

    literals: list[str]
    names: list[str | None]


def _parts(template: str, field: str) -> _Parsed:
    """One pass over the template (``str.format``'s own parser) and one check per distinct name.

    A message is built only on error, from an excerpt, so the time taken is proportional to the
    template's length whatever the number of placeholders.
    """
    if not isinstance(template, str):
        raise TargetUriTemplateError(f"{field} must be a string, got {type(template).__name__}")
    parsed = _Parsed([], [])
    odd: dict[int, tuple[str, str]] = {}
    try:
        for literal, name, spec, conversion in _FORMATTER.parse(template):
            if spec or conversion:
                odd[len(parsed.names)] = (spec or "", conversion or "")
            parsed.literals.append(literal)
            parsed.names.append(name)
    except ValueError as err:
        raise TargetUriTemplateError(
            f"{field} {excerpt(template)} has unbalanced braces ({err}): {_SYNTAX_HINT}"
        ) from None
    valid: set[str] = set()
    for index, name in enumerate(parsed.names):
        if name is None or (name in valid and index not in odd):
            continue
        spec, conversion = odd.get(index, ("", ""))
        problem = _placeholder_problem(name, spec, conversion)
        if problem:
            written = (
                "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
            )
            raise TargetUriTemplateError(
                f"{field} {excerpt(template)}: placeholder {excerpt(written)} {problem}"
            )
        valid.add(name)
    return parsed


def _placeholder_problem(name: str, spec: str, conversion: str) -> str | None:
    """What is wrong with one placeholder, with the fix, or ``None``."""
    stripped = name.strip()
    if stripped == "" or stripped.isdigit():
        return (
            "is empty or positional; name an IMM variable such as '{barename}', "
            "or write a literal brace as '{{' or '}}'"
        )
    if conversion or spec:
        return f"has a conversion or format spec, which IMM does not support: write {_braced(name)}"
    if name != stripped:
        return f"has spaces around the name: write {_braced(stripped)}"
    if name == "tags" or name == _TAG_PREFIX:
        return "names no tag: write '{tags.<key>}' with a key of the request's Tags"
    tag = name[len(_TAG_PREFIX) :] if name.startswith(_TAG_PREFIX) else None
    if "[" in name or "]" in name or ("." in name and (tag is None or "." in tag)):
        return (
            "is not an IMM variable: only tags have a dotted form, '{tags.<key>}' with one dot; "
            "indexing and attribute chains are not supported"
        )
    return None


def _braced(name: str) -> str:
    """``'{name}'`` as a message quotes it."""
    return excerpt("{" + name + "}")


def parse_target_uri(template: str, *, field: str = "TargetURI") -> list[TemplateVariable]:
    """Return the template's variables in order; raise on unbalanced braces or unsupported syntax."""
    return _variables(_parts(template, field).names)


def _variables(names: list[str | None]) -> list[TemplateVariable]:
    """One (frozen) :class:`TemplateVariable` per distinct name, shared by its occurrences."""
    shared: dict[str, TemplateVariable] = {}
    variables: list[TemplateVariable] = []
    for name in names:
        if name is not None:
            variable = shared.get(name)
            if variable is None:
                variable = shared[name] = TemplateVariable(name)
            variables.append(variable)
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
    accepts Tags at all. A ``{tags.x}`` whose tag the request lacks would be left unexpanded or
    rejected by IMM only after submission, hence the check here.
    """
    allowed_set = frozenset(allowed)
    variables = parse_target_uri(template, field=field)
    for var in dict.fromkeys(variables):
        tag = var.tag
        if tag is not None:
            if not has_tags:
                raise TargetUriTemplateError(
                    f"{field} uses {_braced(var.name)} but this operation takes no Tags: "
                    "remove the tag variable"
                )
            if tags is None or tag not in tags:
                raise TargetUriTemplateError(
                    f"{field} uses {_braced(var.name)} but the request has no tag {excerpt(tag)} "
                    f"(tags present: {_some_keys(tags)}): "
                    f"add Tags={{{excerpt(tag)}: ...}} or change the variable"
                )
        elif var.name not in allowed_set:
            close = _closest(var.name, sorted(allowed_set))
            hint = f"did you mean '{{{close}}}'? " if close else ""
            raise TargetUriTemplateError(
                f"{field} uses {_braced(var.name)}, which this operation does not offer: {hint}"
                f"valid variables are {', '.join('{' + v + '}' for v in sorted(allowed_set))}"
                + (" and '{tags.<key>}'" if has_tags else "")
            )
    return variables


#: Names longer than this are no misspelling of a variable; matching them would cost their length.
_MAX_SPELLING = 64
#: Tag keys a message lists; the rest are counted.
_KEYS_SHOWN = 5


def _closest(name: str, allowed: list[str]) -> str | None:
    if len(name) > _MAX_SPELLING:
        return None
    close = difflib.get_close_matches(name, allowed, n=1)
    if not close:
        close = [v for v in allowed if v.lower() == name.lower()][:1]
    return close[0] if close else None


def _some_keys(tags: Mapping[str, object] | None) -> str:
    """The request's tag keys for a message: a few excerpts, and how many more there are."""
    if not tags:
        return "none"
    names = [
        k if isinstance(k, str) and len(k) <= _MAX_SPELLING and k.isprintable() else excerpt(k)
        for k in itertools.islice(tags, _KEYS_SHOWN)
    ]
    if len(tags) <= _KEYS_SHOWN:
        return ", ".join(sorted(names))
    return f"{', '.join(names)} and {len(tags) - _KEYS_SHOWN} more"


def source_variables(
    bucket: str,
    key: str,
    *,
    uploaded: datetime,
    created: datetime,
    ext: str | None = None,
) -> dict[str, str]:
    """The variables every operation derives from a source object and the task's creation time.

    ``barename``/``ext`` split on the last dot of the basename, as ``os.path.splitext`` does (so a
    leading-dot name such as ``.profile`` has no extension). Times are taken as given.
    """
    dirname, basename = posixpath.split(key)
    barename, key_ext = posixpath.splitext(basename)
    return {
        "bucket": bucket,
        "key": key,
        "dirname": dirname,
        "basename": basename,
        "barename": barename,
        "ext": ext if ext is not None else key_ext[1:],
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
    """Fill in the template as IMM does for one output; a variable without a value raises.

    Expansion is done by hand rather than with ``str.format`` so that ``{tags.x}`` can only ever
    read the tag ``x``, never an attribute of some Python object.
    """
    parsed = _parts(template, "TargetURI")
    out: list[str] = []
    for literal, name in zip(parsed.literals, parsed.names, strict=True):
        out.append(literal)
        if name is None:
            continue
        tag = name[len(_TAG_PREFIX) :] if name.startswith(_TAG_PREFIX) else None
        source: Mapping[str, object] = (tags or {}) if tag is not None else variables
        lookup = tag if tag is not None else name
        if lookup not in source:
            raise TargetUriTemplateError(
                f"TargetURI {excerpt(template)}: no value for variable {excerpt(name)}"
            )
        out.append(str(source[lookup]))
    return "".join(out)


def escape_literal(text: str) -> str:
    """``text`` written so that the template reproduces it verbatim (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")
