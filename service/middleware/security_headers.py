"""Security headers on every response, whatever answered it.

Banks put the service behind their gateways, but it must not rely on them: every
response says what the browser may load and frame, and nothing may come from another
host (the page and the documentation viewers are served by the service itself).
"""

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# The viewers set styles at run time and ReDoc searches in a worker it makes from a blob,
# so their pages allow inline styles and blob workers; their scripts, like the page's,
# come from this service only.
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


def _policy(path: str) -> bytes:
    if path.startswith(_DOCS_PATHS):
        return _DOCS_CSP
    if path.startswith("/models/") and path.endswith("/report"):
        return _REPORT_CSP
    return _STRICT_CSP


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = _policy(scope["path"])
        cacheable = scope["path"].startswith("/static")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _ALWAYS
                headers.append((b"content-security-policy", csp))
                headers.append((b"x-frame-options", b"DENY"))
                if not cacheable:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
