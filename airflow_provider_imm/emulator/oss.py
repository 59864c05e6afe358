"""OSS as a local folder: ``<root>/<bucket>/<key>``.

What OSS tells about an object besides its bytes (ETag, CRC-64, Content-Type, ``x-oss-meta-*``) lives
with it, as JSON: in an extended attribute of its file where the filesystem has them (renames and
deletes carry it along, and no second file is created per write, which costs a millisecond on a
journaling filesystem), else beside it in ``<root>/.meta/<bucket>/<key>``; multipart uploads are staged in
``<root>/.multipart/<upload id>/``. Names starting with ``.`` are never bucket names, so neither shows
in a bucket's listing. Every write and delete goes through :class:`LocalOss`, which reports it as an
:class:`ObjectChange`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import mimetypes
import os
import shutil
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, parse_oss_uri

#: What OSS answers for an object uploaded without a Content-Type whose name says nothing either.
DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: CRC-64/ECMA-182 as OSS computes it (``x-oss-hash-crc64ecma``; ``alibabacloud_oss_v2.crc``).
_CRC64_POLY = 0x142F0E1EBA9EA3693
_CRC64_XOROUT = 0xFFFFFFFFFFFFFFFF
#: The extended attribute holding an object's metadata.
_XATTR = "user.imm_emulator.oss"
#: Staging areas under the root; a leading "." is never part of a bucket name.
_META = ".meta"
_MULTIPART = ".multipart"
#: The largest object whose CRC-64 the emulator computes. ``crcmod`` hashes about 500 MB/s, as slow
#: as the client's own check: hashing a large upload would cost the emulator more CPU than the client
#: spends sending it (``benchmarks/oss_throughput.py``), so larger objects go without the header.
CRC_MAX_BYTES = 16 * 1024 * 1024
#: Bytes read at a time when copying or concatenating objects.
CHUNK = 1024 * 1024


class OssKeyError(ValueError):
    """A bucket or key would escape the emulator's root, or is malformed."""


class OssBucketNameError(OssKeyError):
    """A bucket name outside OSS's naming rule."""


class NoSuchUpload(KeyError):
    """A multipart upload that was never initiated, or was completed or aborted."""


class ObjectExists(Exception):
    """A write that may not overwrite (``x-oss-forbid-overwrite``) found an object at its key."""


class InvalidPart(ValueError):
    """CompleteMultipartUpload named a part that was not uploaded, or with another ETag."""


class InvalidPartOrder(ValueError):
    """CompleteMultipartUpload listed part numbers out of ascending order."""


@functools.cache
def _crc64_template() -> Any:
    """A CRC-64 with its table built once (``crcmod`` builds it in Python, ~1 ms); None without ``crcmod``."""
    try:
        import crcmod
    except ImportError:
        return None
    return crcmod.Crc(_CRC64_POLY, initCrc=0, rev=True, xorOut=_CRC64_XOROUT)


class ObjectHashes:
    """MD5 (the ETag) and, when asked and ``crcmod`` is installed, CRC-64 of a body, computed while it
    streams.

    ``crcmod`` comes with ``alibabacloud-oss-v2`` (the ``oss`` extra), the only client that checks the
    CRC; without it the emulator leaves ``x-oss-hash-crc64ecma`` out, and the SDK skips its check when
    the header is absent. The CRC is not asked for bodies over :data:`CRC_MAX_BYTES` either.
    """

    def __init__(self, *, md5: bool = True, crc: bool = True) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        #: False: only the CRC (of a multipart object's whole, whose ETag comes from its parts).
        self._hash_md5 = md5
        template = _crc64_template() if crc else None
        self._crc: Any = None if template is None else template.new()
        self.size = 0

    @classmethod
    def of(cls, data: bytes) -> ObjectHashes:
        hashes = cls()
        hashes.update(data)
        return hashes

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._hash_md5:
            self._md5.update(chunk)
        if self._crc is not None:
            self._crc.update(chunk)
        self.size += len(chunk)

    @property
    def md5(self) -> bytes:
        return self._md5.digest()

    @property
    def etag(self) -> str:
        """The ETag of a simple upload: upper-case hex MD5."""
        return self._md5.hexdigest().upper()

    @property
    def crc64(self) -> str | None:
        return None if self._crc is None else str(self._crc.crcValue)


@dataclass(frozen=True)
class ObjectMeta:
    """What OSS tells about an object besides its bytes, size and time."""

    etag: str
    content_type: str = DEFAULT_CONTENT_TYPE
    #: Decimal CRC-64 (``x-oss-hash-crc64ecma``); None when unknown.
    crc64: str | None = None
    #: ``Normal`` (PutObject, CopyObject) or ``Multipart``.
    kind: str = "Normal"
    #: ``x-oss-meta-*`` and the standard headers kept with an object (``Content-Disposition``...).
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"etag": self.etag, "content_type": self.content_type, "crc64": self.crc64, "kind": self.kind,
             "headers": dict(self.headers)}
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str | bytes) -> ObjectMeta:
        doc = json.loads(text)
        return cls(doc["etag"], doc["content_type"], doc["crc64"], doc["kind"], doc["headers"])


@dataclass(frozen=True)
class ObjectInfo:
    """An object as listings and HEAD describe it."""

    key: str
    size: int
    modified: datetime
    meta: ObjectMeta


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    #: Upper-case hex MD5 of the part.
    etag: str
    modified: datetime


def guess_content_type(key: str) -> str:
    """OSS's choice for an upload without Content-Type: by the name's extension, else octet-stream."""
    return mimetypes.guess_type(key, strict=False)[0] or DEFAULT_CONTENT_TYPE


#: OSS object names are 1-1023 bytes of UTF-8 (OSS's object naming rules,
#: https://www.alibabacloud.com/help/en/oss/user-guide/object-naming-conventions; not in
#: /work/shared/reference/oss.md).
MAX_KEY_BYTES = 1023
#: The longest file name the filesystems the emulator runs on hold (NAME_MAX). OSS itself has no
#: such limit per ``/``-separated segment; the emulator, keeping each segment as a file or folder
#: name, refuses longer ones.
MAX_SEGMENT_BYTES = 255
#: The deepest key the emulator holds, in ``/``-separated parts: each part is a folder level, and
#: Python's directory walks (listing, removing a root) recurse once per level. OSS has no such limit.
MAX_SEGMENTS = 200
#: OS errors of a path the filesystem cannot hold (too long, too deep).
_UNSTORABLE = (errno.ENAMETOOLONG, errno.ELOOP)


@dataclass(frozen=True)
class ObjectChange:
    """One change of an object, in the terms of OSS event notifications (``../shared/reference/oss.md``).

    Every write and delete, whatever made it (the OSS API, an IMM task's outputs, the admin API),
    is reported through :meth:`LocalOss.subscribe`, so event rules see them all.
    """

    #: OSS's event name, e.g. ``ObjectCreated:PutObject`` or ``ObjectRemoved:DeleteObject``.
    event: str
    bucket: str
    key: str
    #: Size in bytes after the change (0 for a removal).
    size: int
    #: The object's ETag as OSS gives it (upper-case hex MD5 for a simple upload), "" for a removal.
    etag: str


#: A subscriber to object changes; it answers whether the change matched any of its rules (which
#: the OSS API reports in ``x-oss-process-status``).
ChangeListener = Callable[[ObjectChange], bool]


def check_bucket_name(bucket: str) -> str:
    """``bucket`` if it follows OSS's bucket naming rule, else :class:`OssBucketNameError`."""
    try:
        valid = "/" not in bucket and parse_oss_uri(f"oss://{bucket}/k", field="bucket").bucket == bucket
    except InvalidOssUriError:
        valid = False
    if not valid:
        raise OssBucketNameError(
            f"invalid bucket {bucket[:64]!r}: 3-63 lower-case letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return bucket


class LocalOss:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._listeners: list[ChangeListener] = []
        #: Whether to try extended attributes (Linux); turned off at the first filesystem without them.
        self._xattrs = hasattr(os, "setxattr")
        #: Held from a write's check for an existing object to its store: two writes that may not
        #: overwrite never both find the key free (callers use that as a create-if-absent lock).
        self._writes = threading.Lock()

    def subscribe(self, listener: ChangeListener) -> None:
        """Call ``listener`` after every change of an object."""
        self._listeners.append(listener)

    def changed(self, change: ObjectChange) -> bool:
        """Report ``change`` to every subscriber; whether any of them matched it."""
        matched = False
        for listener in self._listeners:
            matched = listener(change) or matched
        return matched

    def bucket_dir(self, bucket: str) -> Path:
        """The folder of ``bucket``, which must follow OSS's bucket naming rule (so no path tricks)."""
        return self.root / check_bucket_name(bucket)

    def path(self, bucket: str, key: str) -> Path:
        """The file behind ``oss://bucket/key``; refuses anything that would leave the root."""
        base = self.bucket_dir(bucket)
        # NFKC folds look-alike dots (fullwidth, two-dot leader) into "." so they count as dots too.
        # An empty segment ("a//b", "a/") would alias another key or a folder on the filesystem.
        segments = unicodedata.normalize("NFKC", key).split("/")
        if any(s in ("", ".", "..") for s in segments) or "\\" in key or "\x00" in key:
            raise OssKeyError(
                f"invalid object key {key[:64]!r}: absolute, empty, or with an empty, '.' or '..' segment"
            )
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise OssKeyError(f"object key {key[:64]!r}... is over {MAX_KEY_BYTES} bytes, OSS's limit")
        if len(segments) > MAX_SEGMENTS:
            raise OssKeyError(
                f"object key {key[:64]!r}... has {len(segments)} parts between '/', more than the "
                f"{MAX_SEGMENTS} folder levels the emulator holds"
            )
        if any(len(s.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES for s in key.split("/")):
            raise OssKeyError(
                f"object key {key[:64]!r}... has a part between '/' over {MAX_SEGMENT_BYTES} bytes, "
                "the longest file name the emulator's folder holds: shorten it or add '/'"
            )
        path = (base / key).resolve()
        if not path.is_relative_to(base):
            raise OssKeyError(f"object key {key[:64]!r} escapes bucket {bucket!r}")
        return path

    def put(
        self, bucket: str, key: str, data: bytes | str, *, event: str = "ObjectCreated:PutObject"
    ) -> bool:
        """Write an object; whether an event rule matched the change."""
        content = data.encode() if isinstance(data, str) else data
        hashes = ObjectHashes.of(content)
        meta = ObjectMeta(hashes.etag, guess_content_type(key), hashes.crc64)
        self._store(bucket, key, lambda path: path.write_bytes(content), meta)
        return self.changed(ObjectChange(event, bucket, key, len(content), meta.etag))

    def upload_file(self) -> Path:
        """A new file, outside every bucket, to stream an upload into before :meth:`put_file`."""
        return self.root / f".upload-{uuid.uuid4().hex}"

    def put_file(
        self,
        bucket: str,
        key: str,
        source: Path,
        *,
        etag: str,
        event: str = "ObjectCreated:PutObject",
        meta: ObjectMeta | None = None,
        overwrite: bool = True,
    ) -> bool:
        """Move ``source`` (from :meth:`upload_file`) to ``oss://bucket/key``.

        ``etag`` (and ``meta``) are computed by the caller while the body streamed in, so the file is
        not read twice. ``overwrite=False``: :class:`ObjectExists` if an object is there, decided
        atomically with the store.
        """
        size = source.stat().st_size
        meta = meta or ObjectMeta(etag, guess_content_type(key))
        self._store(bucket, key, source.replace, meta, overwrite=overwrite)
        return self.changed(ObjectChange(event, bucket, key, size, etag))

    def _meta_path(self, path: Path) -> Path:
        """Beside the object's own (checked) path, under ``.meta``: the same key rules hold for both."""
        return self.root / _META / path.relative_to(self.root)

    def _store(
        self,
        bucket: str,
        key: str,
        write: Callable[[Path], object],
        meta: ObjectMeta,
        *,
        overwrite: bool = True,
    ) -> None:
        path = self.path(bucket, key)
        meta_path = self._meta_path(path)
        try:
            with self._writes:
                if not overwrite and path.is_file():
                    raise ObjectExists(f"oss://{bucket}/{key}")
                path.parent.mkdir(parents=True, exist_ok=True)
                write(path)
                self._save_meta(path, meta_path, meta)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            # OSS holds both "a" and "a/b"; one folder cannot.
            raise OssKeyError(
                f"object key {key[:64]!r} collides with another object's key in the emulator's folder"
            ) from None
        except OSError as err:
            if err.errno not in _UNSTORABLE:
                raise
            raise OssKeyError(f"object key {key[:64]!r} cannot be stored: {err.strerror}") from None

    def _save_meta(self, path: Path, meta_path: Path, meta: ObjectMeta) -> None:
        document = meta.to_json().encode()
        if self._xattrs:
            try:
                os.setxattr(path, _XATTR, document)
            except OSError as err:
                if err.errno not in (errno.ENOTSUP, errno.E2BIG, errno.ENOSPC, errno.ERANGE):
                    raise
                self._xattrs = err.errno != errno.ENOTSUP  # else only this value was too large
            else:
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    meta_path.unlink()  # a sidecar of an earlier version would be stale
                return
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_bytes(document)

    @staticmethod
    def _load_meta(path: Path, meta_path: Path) -> ObjectMeta | None:
        readers: list[Callable[[], bytes]] = [meta_path.read_bytes]
        if hasattr(os, "getxattr"):
            readers.insert(0, lambda: os.getxattr(path, _XATTR))
        for read in readers:
            try:
                return ObjectMeta.from_json(read())
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return None

    def get(self, bucket: str, key: str) -> bytes:
        path = self.path(bucket, key)
        if not path.is_file():
            raise FileNotFoundError(f"oss://{bucket}/{key}")
        return path.read_bytes()

    def exists(self, bucket: str, key: str) -> bool:
        try:
            return self.path(bucket, key).is_file()
        except OssKeyError:
            return False
        except OSError as err:
            if err.errno not in _UNSTORABLE:
                raise
            return False

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        """The object's size, time and metadata; :class:`FileNotFoundError` when there is none.

        A file put in the folder by hand has no metadata yet: it is hashed once and its metadata kept.
        """
        path = self.path(bucket, key)
        try:
            st = path.stat()
        except NotADirectoryError:
            raise FileNotFoundError(f"oss://{bucket}/{key}") from None
        if not path.is_file():
            raise FileNotFoundError(f"oss://{bucket}/{key}")
        meta_path = self._meta_path(path)
        meta = self._load_meta(path, meta_path)
        if meta is None:
            hashes = ObjectHashes(crc=st.st_size <= CRC_MAX_BYTES)
            with path.open("rb") as file:
                while chunk := file.read(CHUNK):
                    hashes.update(chunk)
            meta = ObjectMeta(hashes.etag, guess_content_type(key), hashes.crc64)
            self._save_meta(path, meta_path, meta)
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=timezone.utc), meta)

    def delete(self, bucket: str, key: str, *, event: str = "ObjectRemoved:DeleteObject") -> bool:
        """Remove an object (none: nothing happens, as OSS answers 204 either way); whether an event
        rule matched the change."""
        path = self.path(bucket, key)
        if not path.is_file():
            return False
        path.unlink()
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self._meta_path(path).unlink()
        base = self.bucket_dir(bucket)
        for folder in (path.parent, self._meta_path(path).parent):
            _prune(folder, stop=(base, self.root / _META / bucket))
        return self.changed(ObjectChange(event, bucket, key, 0, ""))

    def copy(
        self,
        source: tuple[str, str],
        bucket: str,
        key: str,
        *,
        meta: ObjectMeta | None = None,
        overwrite: bool = True,
    ) -> tuple[ObjectInfo, bool]:
        """Copy ``source`` (bucket, key) to ``oss://bucket/key``, with its metadata unless ``meta`` is
        given; the new object and whether an event rule matched. ``overwrite``: as :meth:`put_file`'s."""
        info = self.stat(*source)
        self.path(bucket, key)
        upload = self.upload_file()
        try:
            shutil.copyfile(self.path(*source), upload)
            new_meta = meta or info.meta
            matched = self.put_file(
                bucket,
                key,
                upload,
                etag=new_meta.etag,
                event="ObjectCreated:CopyObject",
                meta=new_meta,
                overwrite=overwrite,
            )
        finally:
            upload.unlink(missing_ok=True)
        return self.stat(bucket, key), matched

    def open(self, bucket: str, key: str) -> Path:
        """The file to stream an object from; :class:`FileNotFoundError` when there is none."""
        path = self.path(bucket, key)
        if not path.is_file():
            raise FileNotFoundError(f"oss://{bucket}/{key}")
        return path

    # Buckets
    def buckets(self) -> list[tuple[str, datetime]]:
        """Every bucket with its creation time, by name."""
        found = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                stamp = self._bucket_marker(entry.name).stat().st_mtime
            except OSError:  # made by a write (an IMM output), not by PutBucket
                stamp = entry.stat().st_ctime
            found.append((entry.name, datetime.fromtimestamp(stamp, tz=timezone.utc)))
        return found

    def _bucket_marker(self, bucket: str) -> Path:
        """A file whose time is the bucket's creation ("." never appears in a bucket name)."""
        return self.root / _META / f"{bucket}.bucket"

    def bucket_exists(self, bucket: str) -> bool:
        return self.bucket_dir(bucket).is_dir()

    def create_bucket(self, bucket: str) -> bool:
        """Create ``bucket``; False if it was there already."""
        try:
            self.bucket_dir(bucket).mkdir()
        except FileExistsError:
            return False
        marker = self._bucket_marker(bucket)
        marker.parent.mkdir(exist_ok=True)
        marker.touch()
        return True

    def delete_bucket(self, bucket: str) -> None:
        """Remove an empty bucket; :class:`OSError` ``ENOTEMPTY`` when it holds objects."""
        base = self.bucket_dir(bucket)
        if any(p.is_file() for p in base.rglob("*")):
            raise OSError(errno.ENOTEMPTY, "bucket not empty")
        shutil.rmtree(base)
        shutil.rmtree(self.root / _META / bucket, ignore_errors=True)
        self._bucket_marker(bucket).unlink(missing_ok=True)

    def objects(self, bucket: str, prefix: str = "", after: str = "") -> Iterator[str]:
        """Keys under ``prefix`` and after ``after`` in lexical order, as OSS lists them."""
        return (k for k in self.list(bucket, prefix) if k > after)

    # Multipart uploads
    def initiate_upload(self, bucket: str, key: str, meta: ObjectMeta) -> str:
        """A new multipart upload's id; its parts are staged outside every bucket."""
        self.path(bucket, key)
        upload_id = uuid.uuid4().hex.upper()
        folder = self.root / _MULTIPART / upload_id
        folder.mkdir(parents=True)
        (folder / "upload.json").write_text(
            json.dumps({"bucket": bucket, "key": key, "meta": meta.to_json()})
        )
        return upload_id

    def upload_target(self, upload_id: str) -> tuple[str, str, ObjectMeta]:
        """Bucket, key and metadata of a multipart upload; :class:`NoSuchUpload` when unknown."""
        try:
            doc = json.loads((self._upload_dir(upload_id) / "upload.json").read_text())
        except (OSError, ValueError):
            raise NoSuchUpload(upload_id) from None
        return doc["bucket"], doc["key"], ObjectMeta.from_json(doc["meta"])

    def put_part(self, upload_id: str, number: int, source: Path, *, etag: str) -> None:
        """Move ``source`` (from :meth:`upload_file`) in as part ``number``; a part sent again replaces it."""
        folder = self._upload_dir(upload_id)
        if not folder.is_dir():
            raise NoSuchUpload(upload_id)
        source.replace(folder / f"{number:05d}.{etag}")
        for old in folder.glob(f"{number:05d}.*"):
            if old.name != f"{number:05d}.{etag}":
                old.unlink()

    def parts(self, upload_id: str) -> list[Part]:
        folder = self._upload_dir(upload_id)
        if not folder.is_dir():
            raise NoSuchUpload(upload_id)
        found = []
        for path in sorted(folder.glob("[0-9]*.*")):
            number, _, etag = path.name.partition(".")
            st = path.stat()
            found.append(
                Part(int(number), st.st_size, etag, datetime.fromtimestamp(st.st_mtime, timezone.utc))
            )
        return found

    def complete_upload(self, upload_id: str, chosen: Sequence[tuple[int, str]]) -> tuple[ObjectInfo, bool]:
        """Join the ``chosen`` parts (number, ETag) into the object; the object and whether an event rule
        matched. The ETag is OSS's for multipart objects: MD5 of the parts' MD5s, ``-<parts>``."""
        bucket, key, meta = self.upload_target(upload_id)
        numbers = [number for number, _ in chosen]
        if numbers != sorted(set(numbers)):
            raise InvalidPartOrder(upload_id)
        staged = {part.number: part for part in self.parts(upload_id)}
        folder = self._upload_dir(upload_id)
        total = sum(staged[number].size for number, _ in chosen if number in staged)
        # Only the CRC is wanted of the whole: the ETag comes from the parts' MD5s.
        joined = ObjectHashes(md5=False) if total <= CRC_MAX_BYTES else None
        etags = hashlib.md5(usedforsecurity=False)
        upload = self.upload_file()
        try:
            with upload.open("wb") as out:
                for number, etag in chosen:
                    part = staged.get(number)
                    if part is None or part.etag != etag.strip('"').upper():
                        raise InvalidPart(f"part {number}")
                    etags.update(bytes.fromhex(part.etag))
                    with (folder / f"{number:05d}.{part.etag}").open("rb") as file:
                        while chunk := file.read(CHUNK):
                            if joined is not None:
                                joined.update(chunk)
                            out.write(chunk)
            etag = f"{etags.hexdigest().upper()}-{len(chosen)}"
            crc64 = None if joined is None else joined.crc64
            final = ObjectMeta(etag, meta.content_type, crc64, "Multipart", meta.headers)
            matched = self.put_file(
                bucket, key, upload, etag=etag, event="ObjectCreated:CompleteMultipartUpload", meta=final
            )
        finally:
            upload.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        return self.stat(bucket, key), matched

    def abort_upload(self, upload_id: str) -> None:
        folder = self._upload_dir(upload_id)
        if not folder.is_dir():
            raise NoSuchUpload(upload_id)
        shutil.rmtree(folder)

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum() or len(upload_id) > 64:
            raise NoSuchUpload(upload_id)
        return self.root / _MULTIPART / upload_id

    def modified(self, bucket: str, key: str) -> datetime:
        """Upload time of an object (its file's modification time), UTC."""
        return datetime.fromtimestamp(self.path(bucket, key).stat().st_mtime, tz=timezone.utc)

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` in lexical order, as OSS lists them."""
        base = self.bucket_dir(bucket)
        if not base.is_dir():
            return []
        keys = (p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix))


def _prune(folder: Path, *, stop: tuple[Path, ...]) -> None:
    """Remove ``folder`` and its parents while empty, up to ``stop``: a deleted "a/b" must not leave a
    folder "a" that would refuse a later object "a"."""
    while folder not in stop and stop[0].parent in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
