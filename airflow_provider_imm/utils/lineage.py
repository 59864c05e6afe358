"""What a Create*Task request reads and writes in OSS, as far as the request alone tells.

The operator reports the output URIs in its XCom and OpenLineage reports datasets; both come from
here. An output is *known* when its TargetURI expands without IMM: no variable at all, or only
variables derived from the single source object's key (``bucket``, ``key``, ``dirname``,
``basename``, ``barename``, ``ext``), request Tags, and ``autoext`` where the request names the
output format (``TargetType``, ``Container``, ``ImageFormat``). Anything that depends on the
object's upload time, the task's creation time, pages, segments or streams is left to IMM, and
lineage then names the static folder in front of the first such variable instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_imm.catalog import TaskOperation, values_at
from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, OssUri, parse_oss_uri
from airflow_provider_imm.utils.target_uri import (
    TargetUriTemplateError,
    expand_target_uri,
    parse_target_uri,
    source_variables,
)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

__all__ = ["OSS_NAMESPACE_SCHEME", "TaskIo", "operator_lineage", "task_io"]

#: OpenLineage dataset namespace scheme for OSS: ``oss://<bucket>``, the name is the object key.
OSS_NAMESPACE_SCHEME = "oss"
#: Variables derived from the source object's key alone (``ext`` is IMM's detected type, which for
#: the files this provider sees is the key's extension).
_KEY_VARIABLES = frozenset({"bucket", "key", "dirname", "basename", "barename", "ext"})
#: Request (or Targets item) fields naming the output format, the value of ``autoext``.
_FORMAT_FIELDS = ("Container", "TargetType", "ImageFormat")
_UNKNOWN = "\x00"


@dataclass(frozen=True)
class TaskIo:
    """Sources, targets (rendered, IMM's variables intact) and the outputs known in advance."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    #: Output objects whose URI the request fixes; empty when IMM names them.
    outputs: tuple[str, ...]
    #: One per target: the known output, or the folder IMM writes into (``oss://b/dir/``).
    output_locations: tuple[str, ...]


def task_io(operation: TaskOperation, request: Mapping[str, Any]) -> TaskIo:
    """Read a (rendered, validated) request; never raises on odd values, it just knows less."""
    sources = tuple(_sources(operation, request))
    first = _single_source(sources)
    tags = request.get("Tags") if isinstance(request.get("Tags"), Mapping) else None
    targets: list[str] = []
    outputs: list[str] = []
    locations: list[str] = []
    for path, value, item in _targets(operation, request):
        targets.append(value)
        if path in operation.folder_targets:
            locations.append(value)
            continue
        expanded, complete = _expand_known(value, _known_variables(first, item, request), tags)
        if complete:
            outputs.append(expanded)
            locations.append(expanded)
        else:
            locations.append(_folder(expanded))
    return TaskIo(tuple(sources), tuple(targets), tuple(outputs), tuple(locations))


def _sources(operation: TaskOperation, request: Mapping[str, Any]) -> Iterator[str]:
    for path in operation.source_paths:
        for value, _item in values_at(request, path):
            if isinstance(value, str) and value:
                yield value


def _targets(
    operation: TaskOperation, request: Mapping[str, Any]
) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for path in operation.target_paths:
        for value, item in values_at(request, path):
            if isinstance(value, str) and value:
                yield path, value, item


def _single_source(sources: tuple[str, ...]) -> OssUri | None:
    """The source the key variables come from; with several sources IMM's choice is not documented."""
    if len(sources) != 1:
        return None
    try:
        uri = parse_oss_uri(sources[0])
    except InvalidOssUriError:
        return None
    return None if uri.key.endswith("/") else uri


def _known_variables(
    source: OssUri | None, item: Mapping[str, Any], request: Mapping[str, Any]
) -> dict[str, str]:
    known: dict[str, str] = {}
    if source is not None:
        epoch = datetime.fromtimestamp(0, tz=timezone.utc)
        every = source_variables(source.bucket, source.key, uploaded=epoch, created=epoch)
        known.update({name: every[name] for name in _KEY_VARIABLES})
    if not item.get("Segment"):
        for name in _FORMAT_FIELDS:
            value = item.get(name) or request.get(name)
            if isinstance(value, str) and value:
                known["autoext"] = value.lower()
                break
    return known


class _Lookup(dict[str, str]):
    """Answers every variable: its value when known, else a marker that ends the known prefix."""

    def __contains__(self, name: object) -> bool:
        return True

    def __bool__(self) -> bool:
        return True

    def __missing__(self, name: str) -> str:
        return _UNKNOWN


def _expand_known(
    template: str, known: Mapping[str, str], tags: Mapping[str, Any] | None
) -> tuple[str, bool]:
    """The template expanded as far as ``known`` allows, and whether it expanded completely."""
    try:
        parse_target_uri(template)
        tag_lookup = _Lookup({str(k): str(v) for k, v in (tags or {}).items()})
        expanded = expand_target_uri(template, _Lookup(known), tag_lookup)
    except TargetUriTemplateError:
        return template.split("{", 1)[0], False
    head, marker, _tail = expanded.partition(_UNKNOWN)
    return head, not marker


def _folder(prefix: str) -> str:
    """``oss://b/out/2026-11-21/`` from ``oss://b/out/2026-11-21/rep``: the folder a partial name is in."""
    scheme, sep, rest = prefix.partition("://")
    if not sep or "/" not in rest:
        return prefix if sep and rest else ""
    return f"{scheme}://{rest[: rest.rindex('/') + 1]}"


def _dataset_name(uri: str) -> tuple[str, str] | None:
    """``(namespace, name)`` per OpenLineage's object storage naming: ``oss://bucket`` and the key."""
    try:
        parsed = parse_oss_uri(uri, allow_empty_key=True)
    except InvalidOssUriError:
        return None
    key = parsed.key.rstrip("/")
    return f"{OSS_NAMESPACE_SCHEME}://{parsed.bucket}", key or "/"


def operator_lineage(io: TaskIo) -> OperatorLineage | None:
    """OpenLineage datasets for a task's sources and outputs; None without the OpenLineage provider."""
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None

    def datasets(uris: tuple[str, ...]) -> list[Dataset]:
        names = dict.fromkeys(n for n in map(_dataset_name, uris) if n is not None)
        return [Dataset(namespace=namespace, name=name) for namespace, name in names]

    return OperatorLineage(inputs=datasets(io.sources), outputs=datasets(io.output_locations))
