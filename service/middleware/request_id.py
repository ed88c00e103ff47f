"""Request ids and the last-resort error answer, as one small pure-ASGI middleware.

Pure ASGI rather than `BaseHTTPMiddleware` because it runs on every request and the
latter adds a task and a stream copy per call.
"""

import logging
import re
import uuid
from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InternalError, send_problem
from service.logs import request_id_var

REQUEST_ID_HEADER: Final = "x-request-id"
# Echo a caller's id only if it is short and printable, so it is safe in logs and headers.
REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9._:\-]{1,128}$"
_VALID_REQUEST_ID: Final = re.compile(REQUEST_ID_PATTERN)

log = logging.getLogger("service.errors")


class RequestIdMiddleware:
    """Gives every response an X-Request-ID (the caller's, or a new one) and turns any
    unhandled exception into a 500 problem that carries the id and no internals."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = sent if _VALID_REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)  # on every log line written for this request
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            if started:
                raise
            await send_problem(
                send,
                scope,
                InternalError(
                    "The server failed to answer this request; quote the request id when "
                    "reporting it.",
                    headers={REQUEST_ID_HEADER: request_id},
                ),
            )
        finally:
            request_id_var.reset(token)
