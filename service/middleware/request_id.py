"""Request ids, the request context, and the last-resort error answer.

Every request gets a `RequestContext` carrying its id (the caller's `X-Request-ID` when
it is safe to echo, a new one otherwise), every response carries the id back, and any
exception nothing else handled becomes a 500 problem that quotes the id and no internals.
"""

import logging
import re
import uuid
from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.api import REQUEST_ID_PATTERN
from service.context import RequestContext, bind, unbind
from service.errors import InternalError, send_problem

REQUEST_ID_HEADER: Final = "x-request-id"
# Echo a caller's id only if it is short and printable (schemas.api.REQUEST_ID_PATTERN).
_VALID_REQUEST_ID: Final = re.compile(REQUEST_ID_PATTERN)

log = logging.getLogger("service.errors")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = sent if _VALID_REQUEST_ID.match(sent) else uuid.uuid4().hex
        token = bind(scope, RequestContext(request_id=request_id, path=scope["path"]))
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
            unbind(token)
