"""What an emulated IMM task reads from and writes to OSS when it ends.

FileCompression really zips its sources; FileUncompression really unzips; every other operation
with target fields writes one deterministic placeholder object per target, named by expanding the
TargetURI template for the first source object (``index`` 1, ``streamindex`` 0, ``autoext`` from
the request's TargetType / ImageFormat / Container or a plausible default per TaskType), or
``<TargetURIPrefix><index>.<autoext>`` for a prefix.

A task fails (:class:`TaskFailure`) with these codes:

- ``ResourceNotFound`` / "The specified object does not exist": a source object (or every object
  under a source prefix ending in ``/``) is missing from OSS.
- ``InvalidArgument``: an archive entry or Alias would escape its root (``..``, absolute), a
  SelectedFiles entry is not in the archive, or a target expands to an unusable object key.
- ``InvalidFile``: the FileUncompression source is not a zip archive.
- ``InvalidPassword``: the archive is encrypted and Password is missing or wrong.
"""

from __future__ import annotations

import io
import json
import posixpath
import zipfile
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_provider_imm.catalog import TaskOperation, values_at
from airflow_provider_imm.emulator.oss import LocalOss, OssKeyError
from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, OssUri, parse_oss_uri
from airflow_provider_imm.utils.target_uri import TargetUriTemplateError, expand_target_uri, source_variables

#: ``autoext`` when the request names no format.
_DEFAULT_EXTENSIONS: Mapping[str, str] = {
    "OfficeConversion": "pdf",
    "MediaConvert": "mp4",
    "ImageToPDF": "pdf",
    "ImageSplicing": "jpg",
    "PointCloudCompress": "pcd",
    "DecodeBlindWatermark": "png",
}
#: Request (or Targets item) fields whose value is the output's format, most specific first.
_FORMAT_FIELDS = ("Container", "TargetType", "ImageFormat")


class TaskFailure(Exception):
    """The task ends Failed with this ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def source_uris(op: TaskOperation, request: Mapping[str, Any]) -> list[str]:
    return [str(value) for path in op.source_paths for value, _item in values_at(request, path)]


def check_sources(op: TaskOperation, request: Mapping[str, Any], oss: LocalOss) -> None:
    for uri in source_uris(op, request):
        _objects(parse_oss_uri(uri), oss)


def write_outputs(
    op: TaskOperation, request: Mapping[str, Any], tags: Mapping[str, Any], created: datetime, oss: LocalOss
) -> list[str]:
    """Produce the task's outputs in OSS; returns their URIs."""
    try:
        if op.task_type == "FileCompression":
            return [_compress(request, oss)]
        if op.task_type == "FileUncompression":
            return _uncompress(request, oss)
        return _placeholders(op, request, tags, created, oss)
    except (InvalidOssUriError, TargetUriTemplateError, OssKeyError, IsADirectoryError) as err:
        raise TaskFailure("InvalidArgument", str(err)) from None


def _objects(uri: OssUri, oss: LocalOss) -> list[str]:
    """Keys behind a source URI: the object itself, or everything under a prefix ending in ``/``."""
    if uri.key.endswith("/"):
        keys = oss.list(uri.bucket, uri.key)
        if keys:
            return keys
    elif oss.exists(uri.bucket, uri.key):
        return [uri.key]
    raise TaskFailure("ResourceNotFound", f"The specified object does not exist: {uri}")


def _placeholders(
    op: TaskOperation, request: Mapping[str, Any], tags: Mapping[str, Any], created: datetime, oss: LocalOss
) -> list[str]:
    sources = source_uris(op, request)
    variables: dict[str, str] = {}
    if sources:
        first = parse_oss_uri(sources[0])
        uploaded = oss.modified(first.bucket, first.key) if oss.exists(first.bucket, first.key) else created
        variables = source_variables(first.bucket, first.key, uploaded=uploaded, created=created)
    written = []
    for path in op.target_paths:
        for value, item in values_at(request, path):
            ext = _autoext(op, request, item)
            per_output = {
                **variables,
                "autoext": ext,
                "index": "1",
                "streamindex": "0",
                "sheetname": "Sheet1",
            }
            per_output["resolution"] = _resolution(item)
            if path in op.folder_targets:
                uri = f"{value}1.{ext}"
            else:
                uri = expand_target_uri(str(value), per_output, tags)
            target = parse_oss_uri(uri, field=path)
            content = f"IMM emulator placeholder\nTaskType: {op.task_type}\nSource: {', '.join(sources)}\n"
            oss.put(target.bucket, target.key, f"{content}Target: {target}\n")
            written.append(str(target))
    return written


def _autoext(op: TaskOperation, request: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    for field in _FORMAT_FIELDS:
        value = item.get(field) or request.get(field)
        if isinstance(value, str) and value:
            return value.lower()
    return _DEFAULT_EXTENSIONS.get(op.task_type, "bin")


def _resolution(item: Mapping[str, Any]) -> str:
    video = item.get("Video")
    transcode = video.get("TranscodeVideo") if isinstance(video, dict) else None
    resolution = transcode.get("Resolution") if isinstance(transcode, dict) else None
    return str(resolution) if resolution else "1920x1080"


def _compression_sources(request: Mapping[str, Any], oss: LocalOss) -> list[tuple[str, str | None]]:
    """(URI, Alias) pairs from ``Sources`` or the JSON-lines manifest at ``SourceManifestURI``."""
    sources: list[tuple[str, str | None]] = [
        (str(item["URI"]), item.get("Alias"))
        for item in request.get("Sources") or []
        if isinstance(item, dict) and item.get("URI")
    ]
    manifest = request.get("SourceManifestURI")
    if manifest:
        uri = parse_oss_uri(str(manifest), field="SourceManifestURI")
        _objects(uri, oss)
        for line in oss.get(uri.bucket, uri.key).decode("utf-8", "replace").splitlines():
            line = line.strip()
            if not line:
                continue
            entry = json.loads(line) if line.startswith("{") else {"URI": line}
            sources.append((str(entry.get("URI", "")), entry.get("Alias")))
    return sources


def _compress(request: Mapping[str, Any], oss: LocalOss) -> str:
    named: list[tuple[str, OssUri]] = []
    unnamed: list[OssUri] = []
    for uri_text, alias in _compression_sources(request, oss):
        uri = parse_oss_uri(uri_text, field="Sources.URI")
        for key in _objects(uri, oss):
            obj = OssUri(uri.bucket, key)
            if not alias:
                unnamed.append(obj)
            elif uri.key.endswith("/"):
                named.append((alias.strip("/") + "/" + key[len(uri.key) :], obj))
            else:
                named.append(
                    (alias.lstrip("/") + posixpath.basename(key) if alias.endswith("/") else alias, obj)
                )
    if unnamed:
        dirs = [posixpath.dirname(obj.key) for obj in unnamed]
        common = "" if "" in dirs else posixpath.commonpath(dirs)
        named.extend((obj.key[len(common) :].lstrip("/"), obj) for obj in unnamed)
    for name, _obj in named:
        _check_entry(name.lstrip("/"))
    target = parse_oss_uri(str(request["TargetURI"]), field="TargetURI")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, obj in named:
            info = zipfile.ZipInfo(name.lstrip("/"), oss.modified(obj.bucket, obj.key).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, oss.get(obj.bucket, obj.key))
    oss.put(target.bucket, target.key, buffer.getvalue())
    return str(target)


def _uncompress(request: Mapping[str, Any], oss: LocalOss) -> list[str]:
    source = parse_oss_uri(str(request["SourceURI"]), field="SourceURI")
    try:
        archive = zipfile.ZipFile(io.BytesIO(oss.get(source.bucket, source.key)))
    except zipfile.BadZipFile:
        raise TaskFailure("InvalidFile", f"The source is not a valid zip archive: {source}") from None
    entries = [info for info in archive.infolist() if not info.is_dir()]
    selected = request.get("SelectedFiles")
    if selected:
        chosen: list[zipfile.ZipInfo] = []
        for wanted in selected:
            matches = [
                i
                for i in entries
                if i.filename == wanted or (wanted.endswith("/") and i.filename.startswith(wanted))
            ]
            if not matches:
                raise TaskFailure("InvalidArgument", f"SelectedFiles entry {wanted!r} is not in the archive")
            chosen.extend(m for m in matches if m not in chosen)
        entries = chosen
    for info in entries:
        _check_entry(info.filename)
    target = parse_oss_uri(str(request["TargetURI"]), field="TargetURI", allow_empty_key=True)
    prefix = target.key if not target.key or target.key.endswith("/") else target.key + "/"
    password = request.get("Password")
    written = []
    for info in entries:
        try:
            data = archive.read(info, pwd=str(password).encode() if password else None)
        except RuntimeError:
            raise TaskFailure(
                "InvalidPassword", "The archive is encrypted: Password is missing or wrong"
            ) from None
        oss.put(target.bucket, prefix + info.filename, data)
        written.append(str(OssUri(target.bucket, prefix + info.filename)))
    return written


def _check_entry(name: str) -> None:
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or ".." in parts
        or (len(name) > 1 and name[1] == ":")
    ):
        raise TaskFailure(
            "InvalidArgument", f"Archive entry {name!r} would be written outside its target folder"
        )
