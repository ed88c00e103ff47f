"""Bounds on what one worker takes on: body size (413), requests in flight (503 with
Retry-After, rather than an unbounded queue) and time per request (504).

A body that passes the limit while it streams is refused from inside the app's own
`receive`, by raising `BodyTooLargeError`: the route that reads the body fails with it
and the one problem handler answers it like any other refusal. Health checks bypass the
in-flight bound, so an overloaded worker still reports.
"""

import asyncio
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PROBLEM_PREFIX, ServiceError, send_problem


class BodyTooLargeError(ServiceError):
    status = 413
    type = PROBLEM_PREFIX + "body-too-large"
    title = "Request body too large"
    description = "The body is larger than MAX_BODY_BYTES."

    def __init__(self, limit: int) -> None:
        super().__init__(f"The body exceeds the limit of {limit} bytes.")


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


class LimitsMiddleware:
    HEALTH: Final = "/health/"

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
            await send_problem(send, scope, BodyTooLargeError(self.max_body_bytes))
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
                raise BodyTooLargeError(self.max_body_bytes)
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
        except BodyTooLargeError as error:  # read outside any route (no handler answered)
            if not started:
                await send_problem(send, scope, error)
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
