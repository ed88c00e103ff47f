"""The service's own defences, as small pure-ASGI middlewares (one job each).

Banks put the service behind their gateways, but it must not rely on them: every
response carries security headers, bodies and concurrency are bounded, slow requests are
cut off, and API keys are checked here, with problem+json answers for each refusal.
"""

import asyncio
import hashlib
import hmac
from collections.abc import Iterable
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import (
    BODY_TOO_LARGE,
    OVERLOADED,
    TIMEOUT,
    UNAUTHORIZED,
    send_problem,
)

# -- security headers ------------------------------------------------------------------------

_ALWAYS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# The page and the API allow nothing from elsewhere. FastAPI's /docs and /redoc load their
# viewers from a CDN, so they get a policy that permits exactly that.
_STRICT_CSP: Final = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_DOCS_CSP: Final = (
    b"default-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; worker-src blob:; "
    b"frame-ancestors 'none'; base-uri 'none'"
)
_DOCS_PATHS: Final = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = _DOCS_CSP if scope["path"].startswith(_DOCS_PATHS) else _STRICT_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _ALWAYS
                headers.append((b"content-security-policy", csp))
                headers.append((b"x-frame-options", b"DENY"))
                if not scope["path"].startswith("/static"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- limits ----------------------------------------------------------------------------------


class _BodyTooLargeError(Exception):
    pass


def _exempt(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


class LimitsMiddleware:
    """Bounded body size (413), bounded requests in flight per worker (503 with
    Retry-After rather than an unbounded queue) and a per-request time limit (504).
    Health checks bypass the in-flight bound so an overloaded worker still reports."""

    HEALTH: Final = ("/health",)

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, max_in_flight: int, timeout_seconds: float
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.timeout_seconds = timeout_seconds
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await send_problem(
                send, scope, 413, "Request body too large", self._too_large(), BODY_TOO_LARGE
            )
            return
        counted = not _exempt(scope["path"], self.HEALTH)
        if counted and self.in_flight >= self.max_in_flight:
            await send_problem(
                send,
                scope,
                503,
                "Too many requests in flight",
                f"This worker is already handling {self.max_in_flight} requests; retry shortly.",
                OVERLOADED,
                headers=[(b"retry-after", b"1")],
            )
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        if counted:
            self.in_flight += 1
        try:
            await asyncio.wait_for(
                self.app(scope, limited_receive, tracking_send), self.timeout_seconds
            )
        except _BodyTooLargeError:
            if not started:
                await send_problem(
                    send, scope, 413, "Request body too large", self._too_large(), BODY_TOO_LARGE
                )
        except TimeoutError:
            if not started:
                await send_problem(
                    send,
                    scope,
                    504,
                    "Request took too long",
                    f"No answer within {self.timeout_seconds:g} s; nothing was returned.",
                    TIMEOUT,
                )
        finally:
            if counted:
                self.in_flight -= 1

    def _too_large(self) -> str:
        return f"The body exceeds the limit of {self.max_body_bytes} bytes."


# -- API keys --------------------------------------------------------------------------------


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeyMiddleware:
    """Requires `Authorization: Bearer <key>` or `X-API-Key: <key>` when keys are set.

    Only SHA-256 digests of keys are held, and a presented key's digest is compared with
    every stored one in constant time, so neither timing nor a leaked config reveals a key.
    """

    ALWAYS_OPEN: Final = ("/health",)
    DOCS: Final = ("/docs", "/redoc", "/openapi.json", "/static")

    def __init__(self, app: ASGIApp, digests: tuple[bytes, ...], public_docs: bool) -> None:
        self.app = app
        self.digests = digests
        self.open_paths = self.ALWAYS_OPEN + (self.DOCS if public_docs else ())
        self.open_exact = ("/",) if public_docs else ()

    def _allowed(self, headers: Headers) -> bool:
        authorization = headers.get("authorization", "")
        scheme, _, credential = authorization.partition(" ")
        key = credential.strip() if scheme.lower() == "bearer" else headers.get("x-api-key", "")
        if not key:
            return False
        presented = key_digest(key)
        matched = False
        for digest in self.digests:  # no early exit: every check costs the same
            matched |= hmac.compare_digest(presented, digest)
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not self.digests
            or scope.get("method") == "OPTIONS"  # CORS preflights carry no credentials
            or path in self.open_exact
            or _exempt(path, self.open_paths)
            or self._allowed(Headers(scope=scope))
        ):
            await self.app(scope, receive, send)
            return
        await send_problem(
            send,
            scope,
            401,
            "Authentication required",
            "Send a valid API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
            UNAUTHORIZED,
            headers=[(b"www-authenticate", b'Bearer realm="credit-default"')],
        )
