"""The service's own defences, as small pure-ASGI middlewares (one job each).

Banks put the service behind their gateways, but it must not rely on them: every
response carries security headers, and bodies, concurrency and time are bounded, with a
problem+json answer for each refusal. (API keys are a dependency: service.security.)
"""

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PROBLEM_PREFIX, ServiceError, send_problem


class BodyTooLargeError(ServiceError):
    status = 413
    type = PROBLEM_PREFIX + "body-too-large"
    title = "Request body too large"
    description = "The body is larger than MAX_BODY_BYTES."


class OverloadedError(ServiceError):
    status = 503
    type = PROBLEM_PREFIX + "overloaded"
    title = "Too many requests in flight"
    description = "Too many requests are in flight in this worker; retry after Retry-After."
    retry_after = "1"


class RequestTimeoutError(ServiceError):
    status = 504
    type = PROBLEM_PREFIX + "timeout"
    title = "Request took too long"
    description = "No answer within REQUEST_TIMEOUT_SECONDS."


# -- security headers ------------------------------------------------------------------------

_ALWAYS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# Nothing anywhere may load from another host: the page and the documentation viewers are
# served by the service itself. The viewers set styles at run time and ReDoc searches in a
# worker it makes from a blob, so their pages allow inline styles and blob workers; their
# scripts, like the page's, come from this service only.
_STRICT_CSP: Final = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_DOCS_CSP: Final = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self'; worker-src 'self' blob:; font-src 'self' data:; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_DOCS_PATHS: Final = ("/docs", "/redoc")
# A model report is one self-contained page: inline styles (its own and its SVG plots'),
# and nothing else from anywhere, not even this service.
_REPORT_CSP: Final = (
    b"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(_DOCS_PATHS):
            csp = _DOCS_CSP
        elif path.startswith("/models/") and path.endswith("/report"):
            csp = _REPORT_CSP
        else:
            csp = _STRICT_CSP

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


def _heap_trimmer() -> Callable[[], object] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    return None if trim is None else lambda: trim(0)


_TRIM_HEAP: Final = _heap_trimmer()


class _BodyOverLimitError(Exception):
    """Raised inside the app's receive when the streamed body passes the limit."""


class LimitsMiddleware:
    """Bounded body size (413), bounded requests in flight per worker (503 with
    Retry-After rather than an unbounded queue) and a per-request time limit (504).
    Health checks bypass the in-flight bound so an overloaded worker still reports."""

    HEALTH: Final = "/health/"
    # After a request this large (a batch of about 2,500 customers and more), the memory
    # its parsed body used is handed back to the OS: freed but fragmented, glibc would keep
    # it, and a worker that once scored 10,000 customers would hold ~50 MiB more for good.
    RELEASE_AFTER_BYTES: Final = 1 << 20

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
            await send_problem(send, scope, self._too_large())
            return
        counted = not scope["path"].startswith(self.HEALTH)
        if counted and self.in_flight >= self.max_in_flight:
            await send_problem(
                send,
                scope,
                OverloadedError(
                    f"This worker is already handling {self.max_in_flight} requests; retry shortly."
                ),
            )
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise _BodyOverLimitError
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
        except _BodyOverLimitError:
            if not started:
                await send_problem(send, scope, self._too_large())
        except TimeoutError:
            if not started:
                await send_problem(
                    send,
                    scope,
                    RequestTimeoutError(
                        f"No answer within {self.timeout_seconds:g} s; nothing was returned."
                    ),
                )
        finally:
            if counted:
                self.in_flight -= 1
        if received >= self.RELEASE_AFTER_BYTES and _TRIM_HEAP is not None:
            await asyncio.to_thread(_TRIM_HEAP)

    def _too_large(self) -> BodyTooLargeError:
        return BodyTooLargeError(f"The body exceeds the limit of {self.max_body_bytes} bytes.")
