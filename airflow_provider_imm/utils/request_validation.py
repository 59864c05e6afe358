"""Check a Create*Task request dict before it is sent, so mistakes fail fast with a clear message.

The SDK's ``from_map`` silently drops keys it does not know (``TargetUri`` vanishes without a word)
and IMM reports most other mistakes only once the task has been created or has failed, so the
operator validates the request first. Every problem is reported at once, the first one per field,
one line each, and each line names the field and the fix.

Decisions:

* ``ProjectName`` inside the request is allowed when it equals the project passed separately, so
  that examples copied from IMM's documentation work unchanged; a different value is rejected, as
  it is not clear which one the user meant.
* Nested keys and JSON types are the SDK request models', as data generated from them
  (:mod:`airflow_provider_imm.request_models`: no task process imports the models). Scalars are not
  type-checked beyond "not a list or object": Airflow renders templated fields to strings, and the
  SDK sends them as strings anyway.
* Jinja leftovers. Airflow renders ``{{ ... }}``, ``{% ... %}`` and ``{# ... #}``; finding them in a
  request means the field was not templated or the value came from a source Airflow does not
  render. IMM's TargetURI gives ``{{`` and ``}}`` a meaning of its own (literal braces), so in a
  TargetURI-like field the rule is: ``{%`` and ``{#`` are always Jinja; ``{{X}}`` (X without braces)
  is Jinja unless X is a bare name (letters, digits, underscores, no spaces) that is not one of
  Airflow's template context names. So ``{{barename}}`` (the literal text ``{barename}``) and
  ``{{{barename}}}`` (the variable in literal braces) are IMM, while ``{{ ds }}``, ``{{ds}}``,
  ``{{params.team}}`` and ``{{ ds | replace('-', '') }}`` are Jinja. In other fields any ``{{X}}`` is
  Jinja.
* Values must reach IMM as JSON-like text: string keys, text UTF-8 can encode, no NUL (IMM's
  requests are URL-encoded and its notifications, which echo URIs, Tags and UserData, travel as XML,
  which cannot carry NUL; no field of IMM has a use for one), finite numbers, and nothing JSON lacks
  (sets, bytes, other objects). Anything else would make the SDK or the hook fail with an error that
  does not say which field is at fault (a ``TypeError``, or a network error), so it is a validation
  problem here. Nesting is bounded (:data:`MAX_DEPTH`), which also stops a structure containing
  itself.
* Size. Work is linear in the request; messages quote excerpts of values
  (:func:`~airflow_provider_imm.utils.excerpt.excerpt`) and the error lists at most
  :data:`MAX_PROBLEMS_LISTED` problems, so its text is bounded whatever the request.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_imm.catalog import SECRET_FIELDS, TaskOperation, located_values
from airflow_provider_imm.request_models import MODELS, REQUESTS, Spec
from airflow_provider_imm.utils.excerpt import MAX_EXCERPT, excerpt
from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, parse_oss_uri
from airflow_provider_imm.utils.target_uri import TargetUriTemplateError, check_target_uri

__all__ = ["AIRFLOW_CONTEXT_NAMES", "InvalidRequestError", "RequestProblem", "validate_request"]

#: IMM's limit on UserData, in bytes of UTF-8.
MAX_USER_DATA_BYTES = 2048
#: Deepest nesting of objects and lists accepted; IMM's own requests nest four levels at most.
MAX_DEPTH = 32
#: Problems the error's message lists; all of them are in ``InvalidRequestError.problems``.
MAX_PROBLEMS_LISTED = 10
#: Names of Airflow's template context; ``{{ds}}`` is Jinja even though it looks like a literal-brace
#: use in a TargetURI.
AIRFLOW_CONTEXT_NAMES: frozenset[str] = frozenset(
    {
        "asset_state_store", "conf", "conn", "dag", "dag_run", "data_interval_end", "data_interval_start",
        "ds", "ds_nodash", "exception", "expanded_ti_count", "inlet_events", "inlets", "logical_date",
        "macros", "map_index_template", "outlet_events", "outlets", "params", "partition_date",
        "partition_key", "prev_data_interval_end_success", "prev_data_interval_start_success",
        "prev_end_date_success", "prev_start_date_success", "reason", "run_id", "task", "task_instance",
        "task_instance_key_str", "task_reschedule_count", "task_state_store", "templates_dict", "test_mode",
        "ti", "triggering_asset_events", "try_number", "ts", "ts_nodash", "ts_nodash_with_tz", "var",
    }
)  # fmt: skip
#: Fields of the 2017 API that users carry over from old tutorials.
_LEGACY_FIELDS = {
    "NotifyTopicName": "Notification={'MNS': {'TopicName': '<topic>'}}",
    "NotifyEndpoint": "Notification={'MNS': {'TopicName': '<topic>'}} (the endpoint is the project's region)",
}
#: OSS URIs outside the catalog's source and target paths that every operation may carry.
_EXTRA_URI_PATHS = ("Notification.ExtendedMessageURI",)
_JINJA_BLOCK = re.compile(r"\{[%#]")
_DOUBLE_BRACES = re.compile(r"\{\{([^{}]*)\}\}")
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NATIVE_HINT = (
    " (a value rendered by Jinja is a string: pass a real list/dict, "
    "or set render_template_as_native_obj=True on the DAG)"
)


@dataclass(frozen=True)
class RequestProblem:
    """One thing wrong with one field of a request."""

    field: str
    message: str


class InvalidRequestError(ValueError):
    """A request would be rejected by IMM or silently changed by the SDK.

    ``field`` is the first offending field (``Sources[0].URI``); ``problems`` holds all of them.
    """

    def __init__(self, action: str, problems: Sequence[RequestProblem]) -> None:
        self.action = action
        self.problems = tuple(problems)
        self.field = self.problems[0].field if self.problems else ""
        lines = [f"- {p.field}: {p.message}" for p in self.problems[:MAX_PROBLEMS_LISTED]]
        if len(self.problems) > MAX_PROBLEMS_LISTED:
            lines.append(f"- and {len(self.problems) - MAX_PROBLEMS_LISTED} more problems in other fields")
        super().__init__(f"{action} request is invalid:\n" + "\n".join(lines))


def validate_request(
    operation: TaskOperation, request: Mapping[str, Any], *, project: str | None = None
) -> None:
    """Raise :class:`InvalidRequestError` listing every problem of ``request``; return if none.

    ``project`` is the project the caller passes separately (see the module notes on ProjectName).
    """
    if not isinstance(request, Mapping):
        raise InvalidRequestError(
            operation.action,
            [RequestProblem("request", f"must be a dict of IMM fields, got {type(request).__name__}")],
        )
    problems = _Problems()
    model_fields = _request_fields(operation.action)
    _check_names(operation, request, model_fields, problems)
    _check_project(request, project, problems)
    _check_required(operation, request, problems)
    _check_tags(request, problems)
    _check_user_data(request, problems)
    for name, value in request.items():
        if isinstance(name, str) and name in model_fields and value is not None:
            _check_shape(name, value, model_fields[name], problems)
    template_paths = set(operation.target_paths)
    for path, pattern, text in _strings(request, problems):
        _check_jinja(path, text, pattern in template_paths, problems)
    _check_uris(operation, request, problems)
    if problems.items:
        raise InvalidRequestError(operation.action, list(problems.items.values()))


class _Problems:
    """Keeps the first problem of each field, in the order found."""

    def __init__(self) -> None:
        self.items: dict[str, RequestProblem] = {}

    def add(self, field: str, message: str) -> None:
        self.items.setdefault(field, RequestProblem(field, message))


def _check_names(
    operation: TaskOperation,
    request: Mapping[Any, Any],
    model_fields: Mapping[str, Spec],
    problems: _Problems,
) -> None:
    valid = sorted(set(operation.all_fields) & set(model_fields))
    for name in request:
        if not isinstance(name, str):
            problems.add(
                _path("", name), f"field names are strings such as {valid[0]!r}, got {type(name).__name__}"
            )
        elif name in _LEGACY_FIELDS:
            problems.add(name, f"belongs to IMM's 2017 API; this one takes {_LEGACY_FIELDS[name]}")
        elif name == "UserData" and not operation.has_user_data:
            problems.add(
                name, f"{operation.action} does not accept {name} (the SDK would drop it): remove it"
            )
        elif name not in operation.all_fields:
            problems.add(_path("", name), f"is not a field of {operation.action}: {_suggest(name, valid)}")


def _suggest(name: str, valid: Sequence[str], noun: str = "fields") -> str:
    """``did you mean 'X'? valid ...``: exact case-insensitive matches first, then close spellings."""

    def norm(text: str) -> str:
        return re.sub(r"[_\-\s]", "", text).lower()

    by_norm = {norm(v): v for v in valid}
    close = [by_norm[norm(name)]] if len(name) <= MAX_EXCERPT and norm(name) in by_norm else []
    if not close and len(name) <= MAX_EXCERPT:
        matches = difflib.get_close_matches(norm(name), list(by_norm), n=1, cutoff=0.6)
        close = [by_norm[m] for m in matches]
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}valid {noun} are {', '.join(valid)}"


def _check_project(request: Mapping[str, Any], project: str | None, problems: _Problems) -> None:
    if "ProjectName" not in request or request["ProjectName"] is None:
        return
    value = request["ProjectName"]
    if not isinstance(value, str) or not value:
        problems.add("ProjectName", "must be a non-empty string naming the IMM project")
    elif project is not None and value != project:
        problems.add(
            "ProjectName",
            f"is {excerpt(value)} but the task is submitted to project {excerpt(project)}: "
            "remove ProjectName from the request (the project is set by the operator's project argument)",
        )


def _present(value: object) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _check_required(operation: TaskOperation, request: Mapping[str, Any], problems: _Problems) -> None:
    for group in operation.required:
        if any(_present(request.get(name)) for name in group):
            continue
        if len(group) == 1:
            problems.add(group[0], f"is required by {operation.action}: set {group[0]}")
        else:
            problems.add(group[0], f"{operation.action} needs one of {', '.join(group)}: set one of them")


def _type_name(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _check_shape(path: str, value: object, spec: Spec, problems: _Problems) -> None:
    """Recursively check ``value`` against an SDK model field's type spec."""
    kind = spec[0]
    hint = _NATIVE_HINT if isinstance(value, str) else ""
    if kind == "model":
        if not isinstance(value, Mapping):
            fix = ": remove the surrounding list" if _single_object_list(value) else hint
            problems.add(
                path,
                f"must be an object with keys such as {_key_sample(spec)}, got {_type_name(value)}{fix}",
            )
            return
        _check_object(path, value, _model_fields_of(spec[1]), problems)
    elif kind == "list":
        item = spec[1]
        if not isinstance(value, (list, tuple)):
            fix = ": wrap it in a list, [{...}]" if isinstance(value, Mapping) else hint
            what = f"objects with keys such as {_key_sample(item)}" if item[0] == "model" else "values"
            problems.add(path, f"must be a list of {what}, got {_type_name(value)}{fix}")
            return
        for index, element in enumerate(value):
            if element is not None:
                _check_shape(f"{path}[{index}]", element, item, problems)
    elif kind == "dict":
        if not isinstance(value, Mapping):
            problems.add(path, f"must be an object, got {_type_name(value)}{hint}")
    elif kind != "any" and isinstance(value, (Mapping, list, tuple)):
        problems.add(path, f"must be a single value, not {_type_name(value)}")


def _check_object(
    path: str, value: Mapping[Any, Any], fields: Mapping[str, Spec], problems: _Problems
) -> None:
    for key, element in value.items():
        where = _path(path, key)
        if not isinstance(key, str):
            continue  # reported by _strings
        if key not in fields:
            problems.add(where, f"is not a key of {path}: {_suggest(key, sorted(fields), 'keys')}")
        elif element is not None:
            _check_shape(where, element, fields[key], problems)


def _single_object_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], Mapping)


def _key_sample(spec: Spec) -> str:
    if spec[0] != "model":
        return "..."
    keys = sorted(_model_fields_of(spec[1]))
    first = ["URI"] if "URI" in keys else []
    return ", ".join(first + [k for k in keys if k != "URI"][: 3 - len(first)])


def _check_tags(request: Mapping[str, Any], problems: _Problems) -> None:
    tags = request.get("Tags")
    if not isinstance(tags, Mapping):
        return
    for key, value in tags.items():
        if not isinstance(key, str):
            continue  # reported by _strings
        if not key:
            problems.add(_path("Tags", key), "tag keys must be non-empty strings")
        elif not isinstance(value, str):
            fix = f"write {_as_string(value)}" if _is_number(value) else "write it as a string"
            problems.add(_path("Tags", key), f"tag values must be strings, got {_type_name(value)}: {fix}")


def _check_user_data(request: Mapping[str, Any], problems: _Problems) -> None:
    value = request.get("UserData")
    if value is None:
        return
    if not isinstance(value, str):
        problems.add(
            "UserData", f"must be a string (serialise structured data to JSON), got {_type_name(value)}"
        )
        return
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_USER_DATA_BYTES:
        problems.add(
            "UserData",
            f"is {size} bytes of UTF-8, IMM allows at most {MAX_USER_DATA_BYTES}: "
            "store the data elsewhere and pass a reference",
        )


def _strings(
    value: object,
    problems: _Problems,
    path: str = "",
    pattern: str = "",
    depth: int = 0,
    outer: tuple[int, ...] = (),
) -> Iterator[tuple[str, str, str]]:
    """``(path, catalog-style path, text)`` of every string in the request, e.g.
    ``("Sources[0].URI", "Sources[].URI", "oss://...")``; what JSON cannot carry goes to ``problems``.

    ``depth`` counts the objects and lists around ``value``, ``outer`` holds their ids.
    """
    if isinstance(value, str):
        _check_text(path, value, problems)
        yield path, pattern, value
    elif isinstance(value, (Mapping, list, tuple)):
        if id(value) in outer:
            problems.add(path, "contains itself: pass a tree of objects and lists, without cycles")
            return
        if depth >= MAX_DEPTH:
            problems.add(
                path,
                f"is nested more than {MAX_DEPTH} levels deep: IMM requests nest a few levels, flatten it",
            )
            return
        inner = (*outer, id(value))
        if isinstance(value, Mapping):
            for key, element in value.items():
                where = _path(path, key)
                if isinstance(key, str):
                    _check_text(where, key, problems)
                    step = f"{pattern}.{key}" if pattern else key
                else:
                    fix = f": write {_as_string(key)}" if _is_number(key) else ""
                    problems.add(where, f"keys must be strings, got {type(key).__name__}{fix}")
                    step = f"{pattern}[{type(key).__name__}]"
                yield from _strings(element, problems, where, step, depth + 1, inner)
        else:
            for index, element in enumerate(value):
                yield from _strings(element, problems, f"{path}[{index}]", f"{pattern}[]", depth + 1, inner)
    elif isinstance(value, float) and not math.isfinite(value):
        problems.add(path, f"is not a finite number ({value}): pass a number, or leave the field out")
    elif isinstance(value, int) and not isinstance(value, bool) and not -INT64_LIMIT <= value < INT64_LIMIT:
        problems.add(path, "is a number too large for IMM's 64-bit integer fields: pass a smaller number")
    elif not (value is None or isinstance(value, (bool, int, float))):
        problems.add(path, _not_json(value))


#: IMM's numeric fields are integers of at most 64 bits (``Integer``/``Long`` in its API reference); a
#: larger Python int would not even survive ``json.dumps`` past 4300 digits.
INT64_LIMIT = 2**63


def _not_json(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "is bytes: decode them to text, e.g. value.decode('utf-8')"
    if isinstance(value, (set, frozenset)):
        return "is a set, which JSON cannot carry: pass a list, e.g. sorted(value)"
    return (
        f"is an object of type {type(value).__name__}, which JSON cannot carry: "
        "pass a string, number, boolean, list or dict"
    )


def _check_text(path: str, text: str, problems: _Problems) -> None:
    """Text IMM can take: encodable as UTF-8 and without NUL (see the module notes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        problems.add(
            path,
            f"contains a lone surrogate {excerpt(text[err.start])} at character {err.start}, which UTF-8 "
            "cannot encode: remove it, or decode the source of the text with its real encoding",
        )
        return
    nul = text.find("\x00")
    if nul >= 0:
        problems.add(path, f"contains a NUL character at character {nul}, which IMM cannot take: remove it")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_string(number: object) -> str:
    """``'12'`` for 12: the fix for a number given where IMM takes a string."""
    try:
        return excerpt(str(number))
    except ValueError:  # an int too long for str()
        return "it as a string"


def _path(parent: str, key: object) -> str:
    """The path of ``parent[key]`` as messages name it: ``Sources[0].URI``, ``Tags['']``, ``Tags[1]``."""
    if (
        isinstance(key, str)
        and key
        and len(key) <= MAX_EXCERPT
        and key.isprintable()
        and not set(key) & set(".[]'\"")
    ):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{excerpt(key)}]" if parent else excerpt(key)


def _check_jinja(path: str, text: str, is_template: bool, problems: _Problems) -> None:
    fragment = _jinja_fragment(text, is_template)
    if fragment is None:
        return
    shown = "" if path.split(".")[-1] in SECRET_FIELDS else f" {excerpt(fragment)}"
    problems.add(
        path,
        f"contains Jinja markup{shown} that Airflow did not render: make the field templated (it must be in "
        "the operator's template_fields) or pass the value through a templated argument",
    )


def _jinja_fragment(text: str, is_template: bool) -> str | None:
    """The first Jinja marker in ``text``, by the rule in the module notes, or ``None``."""
    block = _JINJA_BLOCK.search(text)
    if block:
        close = block.group(0)[1] + "}"
        end = text.find(close, block.end())
        return text[block.start() : end + 2] if end >= 0 else text[block.start() : block.start() + 20]
    for match in _DOUBLE_BRACES.finditer(text):
        inner = match.group(1)
        if not is_template or not _BARE_NAME.fullmatch(inner) or inner in AIRFLOW_CONTEXT_NAMES:
            return match.group(0)
    return None


def _check_uris(operation: TaskOperation, request: Mapping[str, Any], problems: _Problems) -> None:
    tags = request.get("Tags")
    tag_map = tags if isinstance(tags, Mapping) else None
    checks = [(p, False) for p in (*operation.source_paths, *_EXTRA_URI_PATHS)]
    checks += [(p, True) for p in operation.target_paths]
    for pattern, is_template in checks:
        for path, value, _holder in located_values(request, pattern):
            if value == "" or path in problems.items:
                continue
            try:
                if is_template and isinstance(value, str):
                    check_target_uri(
                        value,
                        operation.template_variables,
                        tags=tag_map,
                        has_tags=operation.has_tags,
                        field=path,
                    )
                parse_oss_uri(
                    value,
                    field=path,
                    template=is_template,
                    allow_empty_key=pattern in operation.folder_targets,
                )
            except (InvalidOssUriError, TargetUriTemplateError) as err:
                problems.add(path, _without_field(str(err), path))


def _without_field(message: str, field: str) -> str:
    return message[len(field) :].lstrip(" :") if message.startswith(field) else message


# --- The SDK request models, as data ------------------------------------------------------------------


@functools.cache
def _request_fields(action: str) -> Mapping[str, Spec]:
    """Wire key -> type spec of ``action``'s SDK request model (from :mod:`request_models`, generated
    from the SDK: importing its models would cost every task process hundreds of modules)."""
    return {key: spec for key, spec, _, _ in REQUESTS[action]}


@functools.cache
def _model_fields_of(model: str) -> Mapping[str, Spec]:
    return dict(MODELS[model])
