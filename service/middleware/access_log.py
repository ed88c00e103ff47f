"""One access line and the HTTP metrics for every request: count, latency and requests in
flight, then method, route, status, duration, and from the request context the model
version, key id and customers. It sits inside the request-id middleware, so both carry
the request id, and outside the limits, so refused requests (413, 503, 504) are seen too."""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.context import context_of
from service.metrics import IN_FLIGHT, LATENCY, REQUESTS

log = logging.getLogger("service.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the request-id middleware answers when nothing was sent

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, watch)
        finally:
            IN_FLIGHT.dec()
            seconds = time.perf_counter() - started
            route = scope.get("route")
            # The route's template, never the raw path: a path per request id or version
            # would make a new time series each time.
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(template, method, str(status)).inc()
            LATENCY.labels(template, method).observe(seconds)
            context = context_of(scope)
            duration_ms = round(seconds * 1000, 3)
            log.info(
                "%s %s -> %d in %.1f ms",
                method,
                template,
                status,
                duration_ms,
                extra={
                    "request_id": context and context.request_id,
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": duration_ms,
                    "model_version": context and context.model_version,
                    "key_id": context and context.key_id,
                    "customers": context and context.customers,
                },
            )
