"""Check a Create*Task request dict before it is sent, so mistakes fail fast with a clear message.

The SDK's ``from_map`` silently drops keys it does not know (``TargetUri`` vanishes without a word)
and IMM reports most other mistakes only once the task has been created or has failed, so the
operator validates the request first. Every problem is reported at once, the first one per field,
one line each, and each line names the field and the fix.

Decisions:

* ``ProjectName`` inside the request is allowed when it equals the project passed separately, so
  that examples copied from IMM's documentation work unchanged; a different value is rejected, as
  it is not clear which one the user meant.
* Nested keys and JSON types are derived from the SDK request models (imported when first needed,
  never at import time, so DAG files parse fast). Scalars are not type-checked beyond "not a list
  or object": Airflow renders templated fields to strings, and the SDK sends them as strings anyway.
* Jinja leftovers. Airflow renders ``{{ ... }}``, ``{% ... %}`` and ``{# ... #}``; finding them in a
  request means the field was not templated or the value came from a source Airflow does not
  render. IMM's TargetURI gives ``{{`` and ``}}`` a meaning of its own (literal braces), so in a
  TargetURI-like field the rule is: ``{%`` and ``{#`` are always Jinja; ``{{X}}`` (X without braces)
  is Jinja unless X is a bare name (letters, digits, underscores, no spaces) that is not one of
  Airflow's template context names. So ``{{barename}}`` (the literal text ``{barename}``) and
  ``{{{barename}}}`` (the variable in literal braces) are IMM, while ``{{ ds }}``, ``{{ds}}``,
  ``{{params.team}}`` and ``{{ ds | replace('-', '') }}`` are Jinja. In other fields any ``{{X}}`` is
  Jinja.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_imm.catalog import SECRET_FIELDS, TaskOperation
from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, parse_oss_uri
from airflow_provider_imm.utils.target_uri import TargetUriTemplateError, check_target_uri

__all__ = ["AIRFLOW_CONTEXT_NAMES", "InvalidRequestError", "RequestProblem", "validate_request"]

#: IMM's limit on UserData, in bytes of UTF-8.
MAX_USER_DATA_BYTES = 2048
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
        lines = "\n".join(f"- {p.field}: {p.message}" for p in self.problems)
        super().__init__(f"{action} request is invalid:\n{lines}")


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
    model_fields = _model_fields(operation.request_model)
    _check_names(operation, request, model_fields, problems)
    _check_project(request, project, problems)
    _check_required(operation, request, problems)
    _check_tags(request, problems)
    _check_user_data(request, problems)
    for name, value in request.items():
        if isinstance(name, str) and name in model_fields and value is not None:
            _check_shape(name, value, model_fields[name], problems)
    template_paths = set(operation.target_paths)
    for path, pattern, text in _strings(request):
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
    operation: TaskOperation, request: Mapping[Any, Any], model_fields: Mapping[str, Any], problems: _Problems
) -> None:
    valid = sorted(set(operation.all_fields) & set(model_fields))
    for name in request:
        if not isinstance(name, str):
            problems.add(
                repr(name), f"field names are strings such as {valid[0]!r}, got {type(name).__name__}"
            )
        elif name in _LEGACY_FIELDS:
            problems.add(name, f"belongs to IMM's 2017 API; this one takes {_LEGACY_FIELDS[name]}")
        elif name in operation.all_fields and name not in model_fields:
            problems.add(
                name, f"{operation.action} does not accept {name} (the SDK would drop it): remove it"
            )
        elif name not in operation.all_fields:
            problems.add(name or repr(name), f"is not a field of {operation.action}: {_suggest(name, valid)}")


def _suggest(name: str, valid: Sequence[str], noun: str = "fields") -> str:
    """``did you mean 'X'? valid ...``: exact case-insensitive matches first, then close spellings."""

    def norm(text: str) -> str:
        return re.sub(r"[_\-\s]", "", text).lower()

    by_norm = {norm(v): v for v in valid}
    close = [by_norm[norm(name)]] if norm(name) in by_norm else []
    if not close:
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
            f"is {value!r} but the task is submitted to project {project!r}: remove ProjectName from the "
            "request (the project is set by the operator's project argument)",
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


def _check_shape(path: str, value: object, annotation: Any, problems: _Problems) -> None:
    """Recursively check ``value`` against an SDK model field's annotation."""
    origin = typing.get_origin(annotation)
    hint = _NATIVE_HINT if isinstance(value, str) else ""
    if _is_model(annotation):
        if not isinstance(value, Mapping):
            fix = ": remove the surrounding list" if _single_object_list(value) else hint
            problems.add(
                path,
                f"must be an object with keys such as {_key_sample(annotation)}, "
                f"got {_type_name(value)}{fix}",
            )
            return
        _check_object(path, value, _model_fields_of(annotation), problems)
    elif origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        if not isinstance(value, (list, tuple)):
            fix = ": wrap it in a list, [{...}]" if isinstance(value, Mapping) else hint
            what = f"objects with keys such as {_key_sample(item)}" if _is_model(item) else "values"
            problems.add(path, f"must be a list of {what}, got {_type_name(value)}{fix}")
            return
        for index, element in enumerate(value):
            if element is not None:
                _check_shape(f"{path}[{index}]", element, item, problems)
    elif origin is dict:
        if not isinstance(value, Mapping):
            problems.add(path, f"must be an object, got {_type_name(value)}{hint}")
    elif annotation is not Any and isinstance(value, (Mapping, list, tuple)):
        problems.add(path, f"must be a single value, not {_type_name(value)}")


def _check_object(
    path: str, value: Mapping[Any, Any], fields: Mapping[str, Any], problems: _Problems
) -> None:
    for key, element in value.items():
        where = f"{path}.{key}"
        if not isinstance(key, str) or key not in fields:
            problems.add(where, f"is not a key of {path}: {_suggest(str(key), sorted(fields), 'keys')}")
        elif element is not None:
            _check_shape(where, element, fields[key], problems)


def _single_object_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], Mapping)


def _key_sample(annotation: Any) -> str:
    if not _is_model(annotation):
        return "..."
    keys = sorted(_model_fields_of(annotation))
    first = ["URI"] if "URI" in keys else []
    return ", ".join(first + [k for k in keys if k != "URI"][: 3 - len(first)])


def _check_tags(request: Mapping[str, Any], problems: _Problems) -> None:
    tags = request.get("Tags")
    if not isinstance(tags, Mapping):
        return
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            problems.add(f"Tags[{key!r}]", "tag keys must be non-empty strings")
        elif not isinstance(value, str):
            problems.add(
                f"Tags.{key}", f"tag values must be strings, got {_type_name(value)}: write {str(value)!r}"
            )


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


def _strings(value: object, path: str = "", pattern: str = "") -> Iterator[tuple[str, str, str]]:
    """``(path, catalog-style path, text)`` of every string in the request, e.g.
    ``("Sources[0].URI", "Sources[].URI", "oss://...")``."""
    if isinstance(value, str):
        yield path, pattern, value
    elif isinstance(value, Mapping):
        for key, element in value.items():
            name = str(key)
            yield from _strings(
                element, f"{path}.{name}" if path else name, f"{pattern}.{name}" if pattern else name
            )
    elif isinstance(value, (list, tuple)):
        for index, element in enumerate(value):
            yield from _strings(element, f"{path}[{index}]", f"{pattern}[]")


def _check_jinja(path: str, text: str, is_template: bool, problems: _Problems) -> None:
    fragment = _jinja_fragment(text, is_template)
    if fragment is None:
        return
    shown = "" if path.split(".")[-1] in SECRET_FIELDS else f" {fragment!r}"
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


def _values_at(request: Mapping[str, Any], pattern: str) -> Iterator[tuple[str, object]]:
    """Values at a catalog path such as ``Sources[].URI``, with their concrete paths."""
    nodes: list[tuple[str, object]] = [("", request)]
    for step in pattern.split("."):
        is_list = step.endswith("[]")
        name = step[:-2] if is_list else step
        found: list[tuple[str, object]] = []
        for path, node in nodes:
            if not isinstance(node, Mapping) or node.get(name) is None:
                continue
            where = f"{path}.{name}" if path else name
            child = node[name]
            if is_list:
                if isinstance(child, (list, tuple)):
                    found.extend((f"{where}[{i}]", item) for i, item in enumerate(child))
            else:
                found.append((where, child))
        nodes = found
    return iter(nodes)


def _check_uris(operation: TaskOperation, request: Mapping[str, Any], problems: _Problems) -> None:
    tags = request.get("Tags")
    tag_map = tags if isinstance(tags, Mapping) else None
    checks = [(p, False) for p in (*operation.source_paths, *_EXTRA_URI_PATHS)]
    checks += [(p, True) for p in operation.target_paths]
    for pattern, is_template in checks:
        for path, value in _values_at(request, pattern):
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
                    value, field=path, template=is_template, allow_empty_key=_is_folder(operation, pattern)
                )
            except (InvalidOssUriError, TargetUriTemplateError) as err:
                problems.add(path, _without_field(str(err), path))


def _is_folder(operation: TaskOperation, pattern: str) -> bool:
    """Targets that name a folder, where ``oss://bucket/`` (the bucket's root) is meaningful."""
    return pattern == "TargetURIPrefix" or (
        operation.task_type == "FileUncompression" and pattern == "TargetURI"
    )


def _without_field(message: str, field: str) -> str:
    return message[len(field) :].lstrip(" :") if message.startswith(field) else message


# --- The SDK request models, read lazily --------------------------------------------------------------


class _Probe:
    """Stands in for every attribute of a model so its ``to_map`` reveals each attribute's wire key."""

    def to_map(self) -> _Probe:
        return self

    def __iter__(self) -> Iterator[_Probe]:
        yield self

    def items(self) -> list[tuple[str, _Probe]]:
        return [("", self)]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and callable(getattr(annotation, "to_map", None))


@functools.cache
def _model_fields(model_name: str) -> Mapping[str, Any]:
    """Wire key -> annotation of the SDK request model ``model_name``."""
    from alibabacloud_imm20200930 import models

    return _model_fields_of(getattr(models, model_name))


def _without_none(annotation: Any) -> Any:
    """``T`` for ``Optional[T]``: Python 3.10's ``get_type_hints`` makes every ``x: T = None`` of the
    SDK's models ``Optional[T]`` (3.11 no longer does); an absent value is skipped anyway."""
    if typing.get_origin(annotation) is typing.Union:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


@functools.cache
def _model_fields_of(model: type) -> Mapping[str, Any]:
    init = model.__init__  # type: ignore[misc]
    hints = {name: _without_none(hint) for name, hint in typing.get_type_hints(init).items()}
    names = [name for name in inspect.signature(init).parameters if name != "self"]
    instance = model()
    probes: dict[int, str] = {}
    for name in names:
        probe = _Probe()
        probes[id(probe)] = name
        setattr(instance, name, probe)
    fields: dict[str, Any] = {}
    for key, value in instance.to_map().items():
        if isinstance(value, list) and value:
            value = value[0]
        elif isinstance(value, dict) and value:
            value = next(iter(value.values()))
        attribute = probes.get(id(value))
        if attribute is not None:
            fields[key] = hints.get(attribute, Any)
    return fields
