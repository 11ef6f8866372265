"""The studio's front door: an ASGI middleware that every request passes before any route.

- **Access token.** On a bind other than loopback (``--host 0.0.0.0``, a teacher serving the
  judge page to a class) every request must carry the random token printed at start-up: as
  ``Authorization: Bearer TOKEN``, an ``X-Genimg-Token`` header, or ``?token=TOKEN`` in the
  URL. A request whose URL carries it gets it back as an HttpOnly, SameSite=Strict cookie, so
  the pages, their scripts and their API calls carry it from then on. Compared in constant time.
- **Host header.** On a loopback bind, a request must name a loopback host: a web page from
  elsewhere cannot reach the studio through a DNS name it rebinds to 127.0.0.1.
- **Body size.** A body longer than ``max_body`` bytes is refused with 413 before the app
  reads it, whatever its Content-Length says (the body is counted as it arrives).

Refusals are one-line JSON, ``{"error": "..."}``, like every other error of the API.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "genimg_token"
TOKEN_HEADER = b"x-genimg-token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
# On every response: the pages may load nothing from anywhere but the studio itself (no CDN,
# no inline script), are never framed, never cached, and send no Referer (it could hold the token).
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
MAX_BODY = 256 * 1024  # bytes: a 64x64 RGB drawing and its mask as JSON numbers fit with room to spare


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def new_token() -> str:
    return secrets.token_urlsafe(24)


async def send_error(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": " ".join(message.split())}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + SECURITY_HEADERS
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Wraps the app. ``token`` None: no token needed; ``allowed_hosts`` None: any Host header."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, allowed_hosts: tuple[str, ...] | None, max_body: int = MAX_BODY
    ) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self.allowed_hosts is not None and _host_name(headers.get(b"host", b"")) not in self.allowed_hosts:
            await send_error(send, 400, "this studio answers requests to a loopback host only (127.0.0.1, localhost)")
            return
        set_cookie = False
        if self.token is not None:
            offered = _offered_tokens(scope, headers)
            if not any(secrets.compare_digest(t.encode(), self.token.encode()) for t in offered):
                await send_error(
                    send, 401, "this studio needs its access token: open the URL it printed (it ends in ?token=...)"
                )
                return
            set_cookie = COOKIE.encode() not in headers.get(b"cookie", b"")
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await send_error(send, 413, f"request body too large: at most {self.max_body} bytes")
            return
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            body = await _read_body(receive, self.max_body)
            if body is None:
                await send_error(send, 413, f"request body too large: at most {self.max_body} bytes")
                return
            receive = _replay(body)
        extra = list(SECURITY_HEADERS)
        if set_cookie:
            extra.append((b"set-cookie", f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()))
        await self.app(scope, receive, _with_headers(send, extra))


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _host_name(host: bytes) -> str:
    """The host of a Host header, without its port ("[::1]:8765" -> "[::1]")."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _offered_tokens(scope: Scope, headers: dict[bytes, bytes]) -> list[str]:
    offered = []
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization.lower().startswith("bearer "):
        offered.append(authorization[7:].strip())
    if TOKEN_HEADER in headers:
        offered.append(headers[TOKEN_HEADER].decode("latin-1").strip())
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed Cookie header is no token, not a crash
        cookie = SimpleCookie()
    if COOKIE in cookie:
        offered.append(cookie[COOKIE].value)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    offered += query.get("token", [])
    return offered


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands the app the body already read, then waits like the real one."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
