"""Every error the API returns: one exception hierarchy, one handler, one body builder.

A refusal is a `ServiceError` subclass that carries its status, problem type and title,
defined beside the code that raises it (the body reader, the registry, the key check,
the limits). The handler turns any of them, and the framework's own validation and
routing errors, into one RFC 9457 `application/problem+json` body, built by
`problem_body` alone, whether a route raised it or a middleware answered before routing.

Bodies never echo the caller's input (FastAPI's default does, and fails with a 500 when
that input holds NaN) and never include stack traces, file paths or library versions.
"""

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, ClassVar, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope, Send

from schemas.api import FieldError, Problem
from service.context import context_of

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_PREFIX: Final = "urn:credit-default:problem:"
MAX_LISTED_ERRORS: Final = 50

_FRIENDLY_MESSAGES: Final = {
    "extra_forbidden": "Unknown field: not part of the contract (check the spelling)",
    "model_type": "Expected a JSON object",
    "model_attributes_type": "Expected a JSON object",
}


class ServiceError(Exception):
    """A refusal the caller is told about: subclasses set `status`, `type` and `title`."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "Internal Server Error"
    description: ClassVar[str] = "The server failed to answer; quote the request id."
    retry_after: ClassVar[str | None] = None  # seconds, sent as Retry-After when set

    def __init__(
        self,
        detail: str,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        if self.retry_after is not None:
            self.headers["Retry-After"] = self.retry_after


class InternalError(ServiceError):
    type = PROBLEM_PREFIX + "internal-error"
    description = "A bug: nothing else answered; quote the request id when reporting it."


class ValidationFailedError(ServiceError):
    """Fields broke the contract; nothing was scored."""

    status = 422
    type = PROBLEM_PREFIX + "validation-error"
    title = "Request validation failed"
    description = (
        "A field broke the contract, the body is empty or not a JSON object, or a batch "
        "is outside 1..10,000; `errors` names each field and rule."
    )

    @classmethod
    def from_pydantic(cls, problems: Sequence[Any]) -> "ValidationFailedError":
        """From pydantic's or FastAPI's error list: one `FieldError` per broken rule."""
        listed = [
            FieldError(
                field=field_path(tuple(p.get("loc", ()))),
                message=_FRIENDLY_MESSAGES.get(p.get("type", ""), p.get("msg", "Invalid value")),
                type=p.get("type", "invalid"),
            )
            for p in problems[:MAX_LISTED_ERRORS]
        ]
        count = len(problems)
        detail = f"{count} field{'s' if count != 1 else ''} broke the contract; nothing was scored."
        if count > MAX_LISTED_ERRORS:
            detail += f" The first {MAX_LISTED_ERRORS} are listed."
        return cls(detail, errors=listed)


class RoutingError(ServiceError):
    """The router's own answers (unknown path, wrong method), with their standard title."""

    description = "Unknown path or method."

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail, headers=headers)
        self.status = status  # type: ignore[misc]
        self.title = HTTPStatus(status).phrase  # type: ignore[misc]


def field_path(location: tuple[Any, ...]) -> str:
    """('body', 'customers', 3, 'age') -> 'customers[3].age'; ('query', 'version') -> 'version'."""
    parts = (
        list(location[1:])
        if location and location[0] in ("body", "query", "path")
        else list(location)
    )
    if not parts:
        return "body"
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def as_service_error(error: Exception, scope: Scope) -> ServiceError:
    """Any exception that reaches the handler, as the problem it is reported as."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, RequestValidationError):
        return ValidationFailedError.from_pydantic(error.errors())
    if (
        isinstance(error, StarletteHTTPException)
        and error.status_code in HTTPStatus._value2member_map_
    ):
        status = error.status_code
        path = scope.get("path", "")
        detail = {
            404: f"Nothing is served at {path}.",
            405: f"{scope.get('method')} is not allowed on {path}.",
        }.get(status, HTTPStatus(status).phrase)
        return RoutingError(status, detail, headers=error.headers)
    return InternalError(
        "The server failed to answer this request; quote the request id when reporting it."
    )


def problem_body(error: ServiceError, scope: Scope) -> bytes:
    """The one place a problem body is built."""
    context = context_of(scope)
    return (
        Problem(
            type=error.type,
            title=error.title,
            status=error.status,
            detail=error.detail,
            instance=scope.get("path"),
            request_id=None if context is None else context.request_id,
            errors=error.errors,
        )
        .model_dump_json(exclude_none=True)
        .encode()
    )


async def handle_problem(request: Request, error: Exception) -> Response:
    """The one exception handler: every refusal a route or dependency raises."""
    problem = as_service_error(error, request.scope)
    return Response(
        problem_body(problem, request.scope),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


async def send_problem(send: Send, scope: Scope, error: ServiceError) -> None:
    """Answer with a problem straight from ASGI middleware (before or around routing)."""
    body = problem_body(error, scope)
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_problem_handler(app: FastAPI) -> None:
    for kind in (ServiceError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, handle_problem)


def problem_responses(*errors: type[ServiceError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI descriptions of a route's error responses, all in the problem shape; errors
    sharing a status are described together."""
    described: dict[int, list[str]] = {}
    for error in errors:
        described.setdefault(error.status, []).append(error.description)
    return {
        status: {
            "description": " Or: ".join(descriptions),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, descriptions in sorted(described.items())
    }
