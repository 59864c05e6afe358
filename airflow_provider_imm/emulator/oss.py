"""OSS as a local folder: ``<root>/<bucket>/<key>``."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath


class OssKeyError(ValueError):
    """A bucket or key would escape the emulator's root, or is malformed."""


class LocalOss:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, bucket: str, key: str) -> Path:
        """The file behind ``oss://bucket/key``; refuses anything that would leave the root."""
        if not bucket or "/" in bucket or bucket in (".", "..") or "\\" in bucket:
            raise OssKeyError(f"invalid bucket {bucket!r}")
        parts = PurePosixPath(key).parts
        escapes = any(p in ("..", ".") for p in parts)
        if not key or key.startswith("/") or "\\" in key or escapes or "\x00" in key:
            raise OssKeyError(f"invalid object key {key!r}: absolute, empty or containing '..'")
        path = (self.root / bucket / key).resolve()
        if not path.is_relative_to(self.root / bucket):
            raise OssKeyError(f"object key {key!r} escapes bucket {bucket!r}")
        return path

    def put(self, bucket: str, key: str, data: bytes | str) -> None:
        path = self.path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

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

    def modified(self, bucket: str, key: str) -> datetime:
        """Upload time of an object (its file's modification time), UTC."""
        return datetime.fromtimestamp(self.path(bucket, key).stat().st_mtime, tz=timezone.utc)

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` in lexical order, as OSS lists them."""
        base = self.root / bucket
        if not base.is_dir():
            return []
        keys = (p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix))
