"""How large a request body each service takes, and reading one without ever holding more.

A body is read through :func:`read_body` (into memory, bounded by the service's limit) or
:func:`stream_body` (chunk by chunk, for uploads written to disk); both raise :class:`BodyTooLarge`
as soon as the limit is passed, so a hostile 100 MB body is never buffered. The guard middleware
refuses a larger ``Content-Length`` before either is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

ADMIN_PREFIX = "/_emulator/"
MNS_PREFIXES = ("/queues", "/topics")

#: MNS messages are at most 64 KiB (MaximumMessageSize 1024-65536, and a batch's bodies together at
#: most 64 KiB: MNS's SendMessage/BatchSendMessage documentation). The request carries that inside
#: XML, where escaping can make a character five bytes (``&amp;``), plus the envelope. Larger bodies
#: are refused with ``InvalidArgument`` (HTTP 400), the code MNS's error-code list gives for a value
#: outside its bounds ("The value of Element must be between Low and High seconds/bytes",
#: https://www.alibabacloud.com/help/en/mns/error-codes).
MNS_MAX_BODY = 6 * 65536
#: IMM documents no request size limit; its largest requests (thousands of Sources of a
#: FileCompression task) stay far below this. Refused with ``InvalidArgument`` (400), the code IMM
#: uses for a bad request.
IMM_MAX_BODY = 8 * 1024 * 1024
#: Admin uploads are test fixtures; they stream to disk, so this bounds disk, not memory.
ADMIN_MAX_BODY = 64 * 1024 * 1024
#: The admin API's other routes take a small JSON object (a fault, a clock step, a task's outcome),
#: read into memory: this bounds what they hold, decompressed (a gzip bomb stops here too).
ADMIN_JSON_MAX_BODY = 1024 * 1024
#: Where the admin uploads go (``PUT /_emulator/oss/<bucket>/<key>``).
_ADMIN_UPLOADS = ADMIN_PREFIX + "oss/"
_BODY_KEY = web.RequestKey("imm_emulator.body", bytearray)


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.")
        self.limit = limit


def body_limit(method: str, path: str) -> int:
    if path.startswith(ADMIN_PREFIX):
        return ADMIN_MAX_BODY if method == "PUT" and path.startswith(_ADMIN_UPLOADS) else ADMIN_JSON_MAX_BODY
    if path.startswith(MNS_PREFIXES):
        return MNS_MAX_BODY
    return IMM_MAX_BODY


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The whole body, read once (later calls get the same bytes); :class:`BodyTooLarge` past ``limit``
    (default: the service's, by path)."""
    cached = request.get(_BODY_KEY)
    if cached is not None:
        return bytes(cached)
    limit = body_limit(request.method, request.path) if limit is None else limit
    buffer = bytearray()
    async for chunk in request.content.iter_any():
        if len(buffer) + len(chunk) > limit:
            raise BodyTooLarge(limit)
        buffer += chunk
    request[_BODY_KEY] = buffer
    return bytes(buffer)


async def stream_body(request: web.Request, limit: int | None = None) -> AsyncIterator[bytes]:
    """The body chunk by chunk, for bodies written straight to disk; :class:`BodyTooLarge` past ``limit``
    (default: the service's, by path)."""
    limit = body_limit(request.method, request.path) if limit is None else limit
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        yield chunk
