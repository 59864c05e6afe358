"""OSS's REST API, path-style (``/bucket/key``), on the emulator's OSS port, over :class:`LocalOss`.

What ``alibabacloud-oss-v2`` (and ``OSSHook`` on it) calls: buckets (List, Put, GetBucketInfo, HEAD,
GetBucketAcl, GetBucketLocation, Delete), objects (Put, Get with ``Range``, HEAD, GetObjectMeta,
Delete, DeleteMultipleObjects, Copy, ListObjects, ListObjectsV2) and multipart uploads (Initiate,
UploadPart, Complete, Abort, ListParts). Bodies stream to and from disk in chunks; MD5 (ETag) and
CRC-64 are computed as they pass. Every answer carries ``x-oss-request-id``; refusals are OSS's XML
errors (:mod:`.oss_errors`), never a 500 for a bad request. A request whose change matched an event
rule (:meth:`LocalOss.changed`) answers with ``x-oss-process-status``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from aiohttp import web

from airflow_provider_imm.emulator.bodies import BodyTooLarge, read_body, stream_body
from airflow_provider_imm.emulator.context import ServiceContext
from airflow_provider_imm.emulator.guard import foreign_target, host_name, is_loopback
from airflow_provider_imm.emulator.oss import (
    CHUNK,
    CRC_MAX_BYTES,
    InvalidPart,
    InvalidPartOrder,
    NoSuchUpload,
    ObjectExists,
    ObjectHashes,
    ObjectInfo,
    ObjectMeta,
    OssBucketNameError,
    OssKeyError,
    guess_content_type,
)
from airflow_provider_imm.emulator.oss_errors import OssError, error_response, new_request_id
from airflow_provider_imm.emulator.oss_events import PROCESS_STATUS
from airflow_provider_imm.emulator.oss_listing import DEFAULT_MAX_KEYS, MAX_KEYS, list_page
from airflow_provider_imm.emulator.oss_signature import authenticate

#: OSS's largest single PutObject / UploadPart body (5 GiB).
MAX_OBJECT = 5 * 1024**3
#: XML request bodies (CompleteMultipartUpload of 10,000 parts, DeleteMultipleObjects of 1,000 keys).
MAX_XML_BODY = 4 * 1024 * 1024
#: OSS's bounds on multipart uploads: part numbers and the size of every part but the last.
MAX_PART_NUMBER = 10_000
MIN_PART_SIZE = 100 * 1024
#: Headers an object keeps besides ``x-oss-meta-*`` and returns on GET and HEAD.
_KEPT_HEADERS = ("Content-Disposition", "Content-Encoding", "Cache-Control", "Expires", "Content-Language")
#: The query parameters of ListObjects and ListObjectsV2.
_LISTING_PARAMS = frozenset(
    {"list-type", "prefix", "delimiter", "max-keys", "marker", "continuation-token", "start-after",
     "fetch-owner", "encoding-type"}
)  # fmt: skip
_REQUEST_ID = web.RequestKey("oss_request_id", str)
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

Handler = Callable[[web.Request, str, str], Awaitable[web.StreamResponse]]


def _xml(root: str, inner: str) -> str:
    return f"{_XML_HEAD}<{root}>{inner}</{root}>"


def _el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _file_exists() -> OssError:
    return OssError(409, "FileAlreadyExists", "The object exists and x-oss-forbid-overwrite is true.")


def _quoted_etag(etag: str) -> str:
    return f'"{etag}"'


def split_path(raw_path: str) -> tuple[str | None, str | None]:
    """Bucket and key of a path-style request target (``/bucket/key?query``), decoded; None for absent."""
    path = raw_path.partition("?")[0]
    bucket_part, _, key_part = path[1:].partition("/")
    try:
        bucket = unquote(bucket_part, errors="strict") or None
        key = unquote(key_part, errors="strict") or None
    except UnicodeDecodeError:
        raise OssError(400, "InvalidObjectName", "The object name is not valid UTF-8.") from None
    return bucket, key


class OssService:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context
        self._oss = context.oss

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_XML_BODY)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # Entry point
    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = new_request_id()
        request[_REQUEST_ID] = request_id
        try:
            response = await self._handle(request)
        except OssError as err:
            response = error_response(err, request_id, head=request.method == "HEAD" or err.status == 304)
        except OssBucketNameError as err:
            response = error_response(
                OssError(400, "InvalidBucketName", str(err)), request_id, head=request.method == "HEAD"
            )
        except OssKeyError as err:
            response = error_response(
                OssError(400, "InvalidObjectName", str(err)), request_id, head=request.method == "HEAD"
            )
        except BodyTooLarge as err:
            message = f"The body is larger than {err.limit} bytes, the most this operation takes."
            response = error_response(OssError(400, "EntityTooLarge", message), request_id)
        except ConnectionError:
            raise  # the client went away: nobody to answer
        except OSError as err:  # the emulator's folder failed it (disk full...): OSS's InternalError
            message = (
                f"The emulator could not read or write its folder: {err.strerror or type(err).__name__}."
            )
            response = error_response(OssError(500, "InternalError", message), request_id)
        if not response.prepared:
            response.headers["x-oss-request-id"] = request_id
            response.headers.setdefault("Server", "AliyunOSS")
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Host", "")
        if not is_loopback(host_name(header)) or foreign_target(request) is not None:
            message = f"Host {header[:64]!r} is not a loopback host: the emulator serves loopback only."
            raise OssError(403, "AccessDenied", message)
        bucket, key = split_path(request.raw_path)
        authenticate(
            self._context.accounts,
            request.method,
            bucket,
            key,
            request.raw_path.partition("?")[2],
            request.headers,
            now=time.time(),
            credential_time=self._context.clock.time(),
        )
        if bucket is None:
            if request.method == "GET":
                return self._list_buckets(request)
            raise _not_served(request)
        self._oss.bucket_dir(bucket)
        if key is None:
            return await self._bucket_operation(request, bucket)
        self._oss.path(bucket, key)
        return await self._object_operation(request, bucket, key)

    async def _bucket_operation(self, request: web.Request, bucket: str) -> web.StreamResponse:
        query, method = request.query, request.method
        if method == "PUT" and not query:
            return self._put_bucket(request, bucket)
        self._require_bucket(bucket)
        if method == "HEAD" and not query:
            return _response(request)
        if method == "DELETE" and not query:
            return self._delete_bucket(request, bucket)
        if method == "POST" and "delete" in query:
            return await self._delete_objects(request, bucket)
        if method == "GET":
            for name, answer in (
                ("bucketInfo", self._bucket_info),
                ("acl", self._bucket_acl),
                ("location", self._bucket_location),
            ):
                if name in query:
                    return answer(request, bucket)
            if not query.keys() - _LISTING_PARAMS:
                return self._list_objects(request, bucket)
        raise _not_served(request)

    async def _object_operation(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        query, method = request.query, request.method
        self._require_bucket(bucket)
        handlers: dict[tuple[str, str], Handler] = {
            ("PUT", "uploadId"): self._upload_part,
            ("GET", "uploadId"): self._list_parts,
            ("DELETE", "uploadId"): self._abort_upload,
            ("POST", "uploadId"): self._complete_upload,
            ("POST", "uploads"): self._initiate_upload,
            ("HEAD", "objectMeta"): self._object_meta,
        }
        for (verb, name), handler in handlers.items():
            if method == verb and name in query:
                return await handler(request, bucket, key)
        plain = {
            "PUT": self._copy_object if "x-oss-copy-source" in request.headers else self._put_object,
            "GET": self._get_object,
            "HEAD": self._head_object,
            "DELETE": self._delete_object,
        }.get(method)
        served = {"response-content-type", "response-content-disposition", "response-cache-control",
                  "response-content-encoding", "response-content-language", "response-expires"}  # fmt: skip
        if plain is None or (query.keys() - served if method == "GET" else query):
            raise _not_served(request)
        return await plain(request, bucket, key)

    def _require_bucket(self, bucket: str) -> None:
        if not self._oss.bucket_exists(bucket):
            raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)

    def _stat(self, bucket: str, key: str) -> ObjectInfo:
        try:
            return self._oss.stat(bucket, key)
        except FileNotFoundError:
            raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key) from None

    # Buckets
    def _owner(self) -> str:
        uid = self._context.account_id
        return f"<Owner>{_el('ID', uid)}{_el('DisplayName', uid)}</Owner>"

    def _bucket_fields(self, request: web.Request, name: str, created: datetime) -> str:
        region = self._context.region
        return (
            _el("CreationDate", _iso(created))
            + _el("ExtranetEndpoint", request.host)
            + _el("IntranetEndpoint", request.host)
            + _el("Location", f"oss-{region}")
            + _el("Name", name)
            + _el("Region", region)
            + _el("StorageClass", "Standard")
        )

    def _list_buckets(self, request: web.Request) -> web.Response:
        prefix = request.query.get("prefix", "")
        marker = request.query.get("marker", "")
        buckets = [(n, c) for n, c in self._oss.buckets() if n.startswith(prefix) and n > marker]
        inner = "".join(f"<Bucket>{self._bucket_fields(request, n, c)}</Bucket>" for n, c in buckets)
        body = (
            self._owner()
            + _el("Prefix", prefix)
            + _el("Marker", marker)
            + _el("IsTruncated", "false")
            + f"<Buckets>{inner}</Buckets>"
        )
        return _xml_response(request, "ListAllMyBucketsResult", body)

    def _put_bucket(self, request: web.Request, bucket: str) -> web.Response:
        if not self._oss.create_bucket(bucket):
            raise OssError(
                409,
                "BucketAlreadyExists",
                "The requested bucket name is not available: choose another name.",
                BucketName=bucket,
            )
        return _response(request, headers={"Location": f"/{bucket}"})

    def _bucket_created(self, bucket: str) -> datetime:
        return dict(self._oss.buckets())[bucket]

    def _bucket_info(self, request: web.Request, bucket: str) -> web.Response:
        fields = self._bucket_fields(request, bucket, self._bucket_created(bucket))
        acl = "<AccessControlList><Grant>private</Grant></AccessControlList>"
        return _xml_response(request, "BucketInfo", f"<Bucket>{fields}{self._owner()}{acl}</Bucket>")

    def _bucket_acl(self, request: web.Request, bucket: str) -> web.Response:
        acl = "<AccessControlList><Grant>private</Grant></AccessControlList>"
        return _xml_response(request, "AccessControlPolicy", self._owner() + acl)

    def _bucket_location(self, request: web.Request, bucket: str) -> web.Response:
        return _xml_response(request, "LocationConstraint", escape(f"oss-{self._context.region}"))

    def _delete_bucket(self, request: web.Request, bucket: str) -> web.Response:
        try:
            self._oss.delete_bucket(bucket)
        except OSError as err:
            if err.errno != errno.ENOTEMPTY:
                raise
            raise OssError(
                409,
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty: delete its objects first.",
                BucketName=bucket,
            ) from None
        return _response(request, status=204)

    # Listing
    def _list_objects(self, request: web.Request, bucket: str) -> web.Response:
        query = request.query
        v2 = query.get("list-type") == "2"
        if "list-type" in query and not v2:
            raise OssError(400, "InvalidArgument", "list-type must be 2 (ListObjectsV2) or absent.")
        max_keys = _int_param(query, "max-keys", DEFAULT_MAX_KEYS, 0, MAX_KEYS)
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        if v2:
            token = query.get("continuation-token")
            after = _decode_token(token) if token is not None else query.get("start-after", "")
        else:
            after = query.get("marker", "")
        page = list_page(
            self._oss.objects(bucket, prefix, after),
            prefix=prefix,
            delimiter=delimiter,
            after=after,
            max_keys=max_keys,
        )
        encode = query.get("encoding-type") == "url"

        def text(value: str) -> str:
            return quote(value, safe="") if encode else value

        contents = []
        for key in page.keys:
            info = self._oss.stat(bucket, key)
            owner = self._owner() if not v2 or query.get("fetch-owner") == "true" else ""
            contents.append(
                "<Contents>"
                + _el("Key", text(key))
                + _el("LastModified", _iso(info.modified))
                + _el("ETag", _quoted_etag(info.meta.etag))
                + _el("Type", info.meta.kind)
                + _el("Size", info.size)
                + _el("StorageClass", "Standard")
                + owner
                + "</Contents>"
            )
        common = "".join(f"<CommonPrefixes>{_el('Prefix', text(p))}</CommonPrefixes>" for p in page.prefixes)
        head = _el("Name", bucket) + _el("Prefix", text(prefix)) + _el("MaxKeys", max_keys)
        head += _el("Delimiter", text(delimiter)) + _el("IsTruncated", str(page.truncated).lower())
        if encode:
            head += _el("EncodingType", "url")
        if v2:
            if "start-after" in query:
                head += _el("StartAfter", text(query["start-after"]))
            if "continuation-token" in query:
                head += _el("ContinuationToken", query["continuation-token"])
            if page.truncated:
                head += _el("NextContinuationToken", _encode_token(page.next_marker))
            head += _el("KeyCount", len(page.keys) + len(page.prefixes))
        else:
            head += _el("Marker", text(after))
            if page.truncated:
                head += _el("NextMarker", text(page.next_marker))
        return _xml_response(request, "ListBucketResult", head + "".join(contents) + common)

    # Objects
    async def _receive(self, request: web.Request) -> tuple[Path, ObjectHashes]:
        """Stream the body into a new file outside every bucket, hashing it; checks ``Content-MD5``.
        The caller moves the file in place or removes it."""
        length = request.content_length
        if length is not None and length > MAX_OBJECT:
            raise BodyTooLarge(MAX_OBJECT)  # before a byte is written
        upload = self._oss.upload_file()
        hashes = ObjectHashes(crc=length is not None and length <= CRC_MAX_BYTES)
        try:
            with upload.open("wb") as file:
                async for chunk in stream_body(request, MAX_OBJECT):
                    file.write(chunk)
                    hashes.update(chunk)
            _check_md5(request, hashes.md5)
        except BaseException:
            upload.unlink(missing_ok=True)
            raise
        return upload, hashes

    def _new_meta(self, request: web.Request, key: str, etag: str, crc64: str | None) -> ObjectMeta:
        content_type = request.headers.get("Content-Type") or guess_content_type(key)
        kept = {
            name: value for name, value in request.headers.items() if name.lower().startswith("x-oss-meta-")
        }
        kept.update({name: request.headers[name] for name in _KEPT_HEADERS if name in request.headers})
        return ObjectMeta(etag, content_type, crc64, "Normal", kept)

    @staticmethod
    def _keeps_existing(request: web.Request) -> bool:
        return request.headers.get("x-oss-forbid-overwrite", "").lower() == "true"

    def _check_overwrite(self, request: web.Request, bucket: str, key: str) -> None:
        """Refuse early, before a body is read; the store decides again, atomically (another write
        may land while the body streams in)."""
        if self._keeps_existing(request) and self._oss.exists(bucket, key):
            raise _file_exists()

    async def _put_object(self, request: web.Request, bucket: str, key: str) -> web.Response:
        self._check_overwrite(request, bucket, key)
        upload, hashes = await self._receive(request)
        try:
            meta = self._new_meta(request, key, hashes.etag, hashes.crc64)
            overwrite = not self._keeps_existing(request)
            matched = self._oss.put_file(
                bucket, key, upload, etag=hashes.etag, meta=meta, overwrite=overwrite
            )
        except ObjectExists:
            raise _file_exists() from None
        finally:
            upload.unlink(missing_ok=True)
        headers = {"ETag": _quoted_etag(hashes.etag), "Content-MD5": base64.b64encode(hashes.md5).decode()}
        return _response(request, headers=_with_crc(headers, hashes.crc64), matched=matched)

    async def _copy_object(self, request: web.Request, bucket: str, key: str) -> web.Response:
        source_bucket, source_key = split_path(request.headers["x-oss-copy-source"])
        if source_bucket is None or source_key is None:
            raise OssError(400, "InvalidArgument", "x-oss-copy-source must be /<bucket>/<key>.")
        self._require_bucket(source_bucket)
        source = self._stat(source_bucket, source_key)
        self._check_overwrite(request, bucket, key)
        directive = request.headers.get("x-oss-metadata-directive", "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise OssError(400, "InvalidArgument", "x-oss-metadata-directive must be COPY or REPLACE.")
        meta = None
        if directive == "REPLACE":
            replaced = self._new_meta(request, key, source.meta.etag, source.meta.crc64)
            meta = ObjectMeta(
                replaced.etag, replaced.content_type, replaced.crc64, source.meta.kind, replaced.headers
            )
        try:
            info, matched = self._oss.copy(
                (source_bucket, source_key),
                bucket,
                key,
                meta=meta,
                overwrite=not self._keeps_existing(request),
            )
        except ObjectExists:
            raise _file_exists() from None
        body = _el("ETag", _quoted_etag(info.meta.etag)) + _el("LastModified", _iso(info.modified))
        headers = _with_crc({}, info.meta.crc64)
        return _xml_response(request, "CopyObjectResult", body, headers=headers, matched=matched)

    def _object_headers(self, info: ObjectInfo) -> dict[str, str]:
        meta = info.meta
        headers = {
            "Content-Type": meta.content_type,
            "ETag": _quoted_etag(meta.etag),
            "Last-Modified": format_datetime(info.modified, usegmt=True),
            "Accept-Ranges": "bytes",
            "x-oss-object-type": meta.kind,
            "x-oss-storage-class": "Standard",
            **meta.headers,
        }
        if meta.kind == "Normal" and len(meta.etag) == 32:
            headers["Content-MD5"] = base64.b64encode(bytes.fromhex(meta.etag)).decode()
        return _with_crc(headers, meta.crc64)

    async def _head_object(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        info = self._stat(bucket, key)
        _check_conditions(request, info)
        headers = self._object_headers(info)
        headers["Content-Length"] = str(info.size)
        return _response(request, headers=headers)

    async def _object_meta(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        info = self._stat(bucket, key)
        headers = {
            "ETag": _quoted_etag(info.meta.etag),
            "Content-Length": str(info.size),
            "Last-Modified": format_datetime(info.modified, usegmt=True),
        }
        return _response(request, headers=_with_crc(headers, info.meta.crc64))

    async def _get_object(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        info = self._stat(bucket, key)
        _check_conditions(request, info)
        headers = self._object_headers(info)
        for name, value in request.query.items():
            headers[name.removeprefix("response-").title()] = value
        start, count = 0, info.size
        span = parse_range(request.headers.get("Range", ""), info.size)
        status = 200
        if isinstance(span, str):
            if request.headers.get("x-oss-range-behavior", "").lower() == "standard":
                raise OssError(416, "InvalidRange", "The requested range is not satisfiable.")
        elif span is not None:
            start, count = span
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + count - 1}/{info.size}"
            headers.pop("x-oss-hash-crc64ecma", None)  # the whole object's, not the range's
            headers.pop("Content-MD5", None)
        response = web.StreamResponse(status=status, headers=headers)
        response.headers["x-oss-request-id"] = request[_REQUEST_ID]
        response.headers["Server"] = "AliyunOSS"
        response.content_length = count
        with self._oss.open(bucket, key).open("rb") as file:
            await response.prepare(request)
            await _send_file(request, response, file, start, count)
        return response

    async def _delete_object(self, request: web.Request, bucket: str, key: str) -> web.Response:
        matched = self._oss.delete(bucket, key)
        return _response(request, status=204, matched=matched)

    async def _delete_objects(self, request: web.Request, bucket: str) -> web.Response:
        body = await read_body(request, MAX_XML_BODY)
        _check_md5(request, _md5(body))
        root = _parse_xml(body, "Delete")
        quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
        keys = [element.findtext("Key") or "" for element in root.findall("Object")]
        if not keys or len(keys) > 1000:
            raise OssError(
                400, "MalformedXML", "Delete must list 1 to 1000 Object elements, each with a Key."
            )
        encode = request.query.get("encoding-type") == "url"
        deleted = []
        matched = False
        for key in keys:
            matched = self._oss.delete(bucket, key, event="ObjectRemoved:DeleteObjects") or matched
            deleted.append(f"<Deleted>{_el('Key', quote(key, safe='') if encode else key)}</Deleted>")
        inner = ("" if quiet else "".join(deleted)) + (_el("EncodingType", "url") if encode else "")
        return _xml_response(request, "DeleteResult", inner, matched=matched)

    # Multipart uploads
    def _upload_of(self, request: web.Request, bucket: str, key: str) -> str:
        """The upload id of the request, which must be an upload of ``bucket``/``key``."""
        upload_id = request.query.get("uploadId", "")
        try:
            target = self._oss.upload_target(upload_id)
        except NoSuchUpload:
            target = None
        if target is None or target[:2] != (bucket, key):
            raise OssError(
                404,
                "NoSuchUpload",
                "The specified upload does not exist: it was never initiated, or was completed or aborted.",
                UploadId=upload_id[:64],
            )
        return upload_id

    async def _initiate_upload(self, request: web.Request, bucket: str, key: str) -> web.Response:
        self._check_overwrite(request, bucket, key)
        upload_id = self._oss.initiate_upload(bucket, key, self._new_meta(request, key, "", None))
        encode = request.query.get("encoding-type") == "url"
        inner = (
            _el("Bucket", bucket)
            + _el("Key", quote(key, safe="") if encode else key)
            + _el("UploadId", upload_id)
        )
        if encode:
            inner += _el("EncodingType", "url")
        return _xml_response(request, "InitiateMultipartUploadResult", inner)

    async def _upload_part(self, request: web.Request, bucket: str, key: str) -> web.Response:
        upload_id = self._upload_of(request, bucket, key)
        number = _int_param(request.query, "partNumber", 0, 1, MAX_PART_NUMBER)
        upload, hashes = await self._receive(request)
        try:
            self._oss.put_part(upload_id, number, upload, etag=hashes.etag)
        finally:
            upload.unlink(missing_ok=True)
        headers = {"ETag": _quoted_etag(hashes.etag), "Content-MD5": base64.b64encode(hashes.md5).decode()}
        return _response(request, headers=_with_crc(headers, hashes.crc64))

    async def _list_parts(self, request: web.Request, bucket: str, key: str) -> web.Response:
        upload_id = self._upload_of(request, bucket, key)
        marker = _int_param(request.query, "part-number-marker", 0, 0, MAX_PART_NUMBER)
        max_parts = _int_param(request.query, "max-parts", 1000, 1, 1000)
        after = [part for part in self._oss.parts(upload_id) if part.number > marker]
        page, truncated = after[:max_parts], len(after) > max_parts
        parts = "".join(
            "<Part>"
            + _el("PartNumber", part.number)
            + _el("LastModified", _iso(part.modified))
            + _el("ETag", _quoted_etag(part.etag))
            + _el("Size", part.size)
            + "</Part>"
            for part in page
        )
        inner = (
            _el("Bucket", bucket)
            + _el("Key", key)
            + _el("UploadId", upload_id)
            + _el("PartNumberMarker", marker)
            + _el("NextPartNumberMarker", page[-1].number if page else marker)
            + _el("MaxParts", max_parts)
            + _el("IsTruncated", str(truncated).lower())
            + parts
        )
        return _xml_response(request, "ListPartsResult", inner)

    async def _complete_upload(self, request: web.Request, bucket: str, key: str) -> web.Response:
        upload_id = self._upload_of(request, bucket, key)
        staged = self._oss.parts(upload_id)
        if request.headers.get("x-oss-complete-all", "").lower() == "yes":
            chosen = [(part.number, part.etag) for part in staged]
        else:
            body = await read_body(request, MAX_XML_BODY)
            _check_md5(request, _md5(body))
            root = _parse_xml(body, "CompleteMultipartUpload")
            try:
                chosen = [
                    (int(part.findtext("PartNumber") or ""), (part.findtext("ETag") or "").strip())
                    for part in root.findall("Part")
                ]
            except ValueError:
                raise OssError(400, "MalformedXML", "Every Part needs a PartNumber (an integer).") from None
        if not chosen:
            raise OssError(400, "MalformedXML", "CompleteMultipartUpload must list at least one Part.")
        sizes = {part.number: part.size for part in staged}
        if any(sizes.get(number, MIN_PART_SIZE) < MIN_PART_SIZE for number, _ in chosen[:-1]):
            raise OssError(
                400, "EntityTooSmall", f"Every part but the last must be at least {MIN_PART_SIZE} bytes."
            )
        try:
            info, matched = self._oss.complete_upload(upload_id, chosen)
        except InvalidPart as err:
            raise OssError(
                400,
                "InvalidPart",
                f"{err.args[0]} was not uploaded, or its ETag differs: list the parts uploaded.",
            ) from None
        except InvalidPartOrder:
            raise OssError(
                400, "InvalidPartOrder", "List the parts in ascending PartNumber order, each once."
            ) from None
        encode = request.query.get("encoding-type") == "url"
        inner = (
            (_el("EncodingType", "url") if encode else "")
            + _el("Location", f"http://{request.host}/{bucket}/{quote(key)}")
            + _el("Bucket", bucket)
            + _el("Key", quote(key, safe="") if encode else key)
            + _el("ETag", _quoted_etag(info.meta.etag))
        )
        headers = _with_crc({}, info.meta.crc64)
        return _xml_response(
            request, "CompleteMultipartUploadResult", inner, headers=headers, matched=matched
        )

    async def _abort_upload(self, request: web.Request, bucket: str, key: str) -> web.Response:
        self._oss.abort_upload(self._upload_of(request, bucket, key))
        return _response(request, status=204)


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(start, count)`` of a single ``bytes=`` range; ``"unsatisfiable"`` when it starts past the end;
    None when there is none or it is malformed (OSS then sends the whole object)."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if (
        not dash
        or not (first.isdigit() or last.isdigit())
        or not all(s.isdigit() for s in (first, last) if s)
    ):
        return None
    if not first:  # the last N bytes
        count = min(int(last), size)
        return (size - count, count) if count else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return start, end - start + 1


async def _send_file(
    request: web.Request, response: web.StreamResponse, file: object, start: int, count: int
) -> None:
    """``count`` bytes of ``file`` from ``start``: by ``sendfile`` (the kernel copies), else in chunks."""
    transport = request.transport
    if transport is not None and count:
        try:
            await asyncio.get_running_loop().sendfile(transport, file, start, count)  # type: ignore[arg-type]
        except (NotImplementedError, RuntimeError):
            pass
        else:
            await response.write_eof()
            return
    file.seek(start)  # type: ignore[attr-defined]
    remaining = count
    while remaining > 0:
        chunk = file.read(min(CHUNK, remaining))  # type: ignore[attr-defined]
        if not chunk:
            break
        await response.write(chunk)
        remaining -= len(chunk)
    await response.write_eof()


def _response(
    request: web.Request, *, status: int = 200, headers: dict[str, str] | None = None, matched: bool = False
) -> web.Response:
    response = web.Response(status=status, headers=headers)
    if matched:
        response.headers["x-oss-process-status"] = PROCESS_STATUS
    return response


def _xml_response(
    request: web.Request,
    root: str,
    inner: str,
    *,
    headers: dict[str, str] | None = None,
    matched: bool = False,
) -> web.Response:
    response = _response(request, headers=headers, matched=matched)
    response.body = _xml(root, inner).encode()
    response.content_type = "application/xml"
    return response


def _with_crc(headers: dict[str, str], crc64: str | None) -> dict[str, str]:
    if crc64 is not None:
        headers["x-oss-hash-crc64ecma"] = crc64
    return headers


def _md5(body: bytes) -> bytes:
    return ObjectHashes.of(body).md5


def _check_md5(request: web.Request, digest: bytes) -> None:
    sent = request.headers.get("Content-MD5")
    if sent is None:
        return
    try:
        matches = base64.b64decode(sent, validate=True) == digest
    except (binascii.Error, ValueError):
        matches = False
    if not matches:
        raise OssError(400, "InvalidDigest", "The Content-MD5 you specified is not the MD5 of the body sent.")


def _check_conditions(request: web.Request, info: ObjectInfo) -> None:
    etag = _quoted_etag(info.meta.etag)
    if_match = request.headers.get("If-Match")
    if if_match is not None and if_match.strip() not in (etag, info.meta.etag, "*"):
        raise OssError(
            412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold."
        )
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and if_none_match.strip() in (etag, info.meta.etag, "*"):
        raise OssError(304, "NotModified", "The object was not modified.")


def _int_param(query: object, name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)  # type: ignore[attr-defined]
    if value is None:
        if default < low:
            raise OssError(400, "InvalidArgument", f"{name} is required.")
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise OssError(
            400, "InvalidArgument", f"{name} must be an integer from {low} to {high}, got {value[:20]!r}."
        )
    return int(value)


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        raise OssError(
            400, "InvalidArgument", "continuation-token is not one this bucket's listing gave."
        ) from None


def _parse_xml(body: bytes, root_tag: str) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise OssError(
            400, "MalformedXML", f"The body is not well-formed XML: send a <{root_tag}> document."
        ) from None
    if root.tag != root_tag:
        raise OssError(
            400, "MalformedXML", f"The body's root element must be <{root_tag}>, not <{root.tag[:40]}>."
        )
    return root


def _not_served(request: web.Request) -> OssError:
    names = ", ".join(sorted(request.query.keys()))[:100]
    return OssError(
        400,
        "InvalidArgument",
        f"{request.method} {request.path[:100]}{' with ' + names if names else ''} is not an operation "
        "the emulator's OSS serves.",
    )
