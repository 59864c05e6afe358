"""OSS as a local folder: ``<root>/<bucket>/<key>``."""

from __future__ import annotations

import errno
import hashlib
import os
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, parse_oss_uri


class OssKeyError(ValueError):
    """A bucket or key would escape the emulator's root, or is malformed."""


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
    """``bucket`` if it follows OSS's bucket naming rule, else :class:`OssKeyError`."""
    try:
        valid = "/" not in bucket and parse_oss_uri(f"oss://{bucket}/k", field="bucket").bucket == bucket
    except InvalidOssUriError:
        valid = False
    if not valid:
        raise OssKeyError(
            f"invalid bucket {bucket[:64]!r}: 3-63 lower-case letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return bucket


class LocalOss:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._listeners: list[ChangeListener] = []

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
        self._store(bucket, key, lambda path: path.write_bytes(content))
        etag = hashlib.md5(content, usedforsecurity=False).hexdigest().upper()
        return self.changed(ObjectChange(event, bucket, key, len(content), etag))

    def upload_file(self) -> Path:
        """A new file, outside every bucket, to stream an upload into before :meth:`put_file`."""
        return self.root / f".upload-{uuid.uuid4().hex}"

    def put_file(
        self, bucket: str, key: str, source: Path, *, etag: str, event: str = "ObjectCreated:PutObject"
    ) -> bool:
        """Move ``source`` (from :meth:`upload_file`) to ``oss://bucket/key``.

        ``etag`` is computed by the caller while the body streamed in, so the file is not read twice.
        """
        size = source.stat().st_size
        self._store(bucket, key, source.replace)
        return self.changed(ObjectChange(event, bucket, key, size, etag))

    def delete(self, bucket: str, key: str, *, event: str = "ObjectRemoved:DeleteObject") -> bool:
        """Remove an object; whether an event rule matched the change.

        Removing a missing object changes nothing and reports nothing: OSS answers that DeleteObject
        with success, and does not document whether it notifies.
        """
        path = self.path(bucket, key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError):
            return False
        # Folders the object leaves empty go too, so that "a" can be stored after "a/b" is removed.
        base = self.bucket_dir(bucket)
        for parent in path.parents:
            if parent == base or not parent.is_relative_to(base):
                break
            try:
                parent.rmdir()
            except OSError:
                break
        return self.changed(ObjectChange(event, bucket, key, 0, ""))

    def _store(self, bucket: str, key: str, write: Callable[[Path], object]) -> None:
        path = self.path(bucket, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            # OSS holds both "a" and "a/b"; one folder cannot.
            raise OssKeyError(
                f"object key {key[:64]!r} collides with another object's key in the emulator's folder"
            ) from None
        except OSError as err:
            if err.errno not in _UNSTORABLE:
                raise
            raise OssKeyError(f"object key {key[:64]!r} cannot be stored: {err.strerror}") from None

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
