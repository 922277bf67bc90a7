"""Bearer token, WebSocket Origin check and security headers, for every request the console serves.

The token may come as ``Authorization: Bearer``, as the console's cookie, or once as ``/?token=`` when a person
opens the page: the console then sets an HttpOnly, SameSite=Strict cookie and redirects to the bare URL, so the token
leaves the address bar. The token itself is never logged.
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "gridpipe_console_token"
OPEN_PATHS = frozenset({"/healthz"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def presented_token(scope: Scope) -> str | None:
    headers = _headers(scope)
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    cookie = SimpleCookie()
    cookie.load(headers.get("cookie", ""))
    if COOKIE in cookie:
        return cookie[COOKIE].value
    return None


def origin_allowed(scope: Scope, allowed: tuple[str, ...]) -> bool:
    """A browser's WebSocket must come from a page of this console (its Host) or an allowed origin; clients that are
    not browsers send no Origin and are judged by the token alone."""
    headers = _headers(scope)
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin in allowed:
        return True
    return urlsplit(origin).netloc == headers.get("host")


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, token: str | None, allowed_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.token = token
        self.allowed_origins = allowed_origins

    def _authorised(self, given: str | None) -> bool:
        return self.token is None or (given is not None and hmac.compare_digest(given.encode(), self.token.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if not origin_allowed(scope, self.allowed_origins) or not self._authorised(presented_token(scope)):
                await send({"type": "websocket.close", "code": 1008})  # before accept: the handshake gets 403
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        query_token = parse_qs(scope.get("query_string", b"").decode()).get("token", [None])[0]
        if path == "/" and query_token is not None and self._authorised(query_token):
            await _redirect_with_cookie(send, query_token)
            return
        if path not in OPEN_PATHS and not self._authorised(presented_token(scope)):
            await _refuse(send, path)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
                if path.startswith("/api/"):
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, with_headers)


async def _redirect_with_cookie(send: Send, token: str) -> None:
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode()), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, path: str) -> None:
    body: Any
    if path.startswith("/api/") or path == "/metrics":
        body = json.dumps(
            {"error": "this console needs its token: send Authorization: Bearer <token>, or open /?token=<token>"}
        ).encode()
        kind = b"application/json"
    else:
        body = b"This gridpipe console needs its token: open /?token=<token> once (it is then kept in a cookie).\n"
        kind = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", kind), (b"www-authenticate", b"Bearer"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})
