"""Objects in the emulator's OSS, addressed by ``oss://bucket/key`` as requests name them."""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_imm.emulator import ImmEmulator


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("oss://").partition("/")
    return bucket, key


def put_object(emulator: ImmEmulator, uri: str, data: bytes | str = b"content") -> None:
    emulator.oss.put(*_split(uri), data)


def get_object(emulator: ImmEmulator, uri: str) -> bytes:
    return emulator.oss.get(*_split(uri))


def object_exists(emulator: ImmEmulator, uri: str) -> bool:
    return emulator.oss.exists(*_split(uri))


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A ZIP archive holding ``files`` (name -> content), for the (un)compression tasks to read."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
