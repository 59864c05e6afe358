"""Loopback HTTP servers standing for what sits between the SDKs and the services: a gateway answering
an HTML error page, a service quoting the request's headers back in its error message.

The emulator models IMM, MNS and STS themselves; these model the rest of the path, so the hooks can be
checked against answers the emulator never gives, still through the official SDKs over real HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: (status, content type, body) for the request's headers.
Answer = Callable[[Mapping[str, str]], tuple[int, str, str]]

BAD_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class StubServer:
    """A running server: its ``host:port`` and the headers of every request it received."""

    endpoint: str
    requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"


@contextmanager
def stub_server(answer: Answer) -> Iterator[StubServer]:
    """Serve ``answer`` on a free loopback port until the block ends."""
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            received.append(headers)
            status, content_type, body = answer(headers)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="stub-server", daemon=True)
    thread.start()
    try:
        yield StubServer(f"127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def bad_gateway(headers: Mapping[str, str]) -> tuple[int, str, str]:
    """What a load balancer answers when the service behind it is down."""
    return 502, "text/html", BAD_GATEWAY_PAGE


def token_headers(headers: Mapping[str, str]) -> str:
    """The request's token headers as a server quoting its canonical request would show them."""
    return "\n".join(f"{name}:{value}" for name, value in sorted(headers.items()) if "token" in name)
