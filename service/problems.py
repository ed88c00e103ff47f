"""Every error the API returns, as one RFC 9457 `application/problem+json` shape.

The handlers never echo the caller's input back (FastAPI's default does, and fails with a
500 when that input holds NaN) and never include stack traces, file paths or library
versions.
"""

from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope, Send

from model_store import VersionNotFoundError
from schemas.api import FieldError, Problem
from service.predictor import ModelUnavailableError, public_reason

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
MAX_LISTED_ERRORS: Final = 50

# Problem type URIs; each names one kind of problem and is listed in the README.
VALIDATION: Final = "urn:credit-default:problem:validation-error"
MALFORMED_BODY: Final = "urn:credit-default:problem:malformed-body"
MODEL_NOT_FOUND: Final = "urn:credit-default:problem:model-not-found"
MODEL_UNAVAILABLE: Final = "urn:credit-default:problem:model-unavailable"
INTERNAL: Final = "urn:credit-default:problem:internal-error"
UNAUTHORIZED: Final = "urn:credit-default:problem:unauthorized"
BODY_TOO_LARGE: Final = "urn:credit-default:problem:body-too-large"
OVERLOADED: Final = "urn:credit-default:problem:overloaded"
TIMEOUT: Final = "urn:credit-default:problem:timeout"
RELOAD_FAILED: Final = "urn:credit-default:problem:reload-failed"

_FRIENDLY_MESSAGES: Final = {
    "extra_forbidden": "Unknown field: not part of the contract (check the spelling)",
    "model_attributes_type": "Expected a JSON object, sent with Content-Type: application/json",
}


def problem_response(
    request_id: str | None,
    status: int,
    title: str,
    detail: str,
    type_: str = "about:blank",
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=type_,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        request_id=request_id,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


async def send_problem(
    send: Send,
    scope: Scope,
    status: int,
    title: str,
    detail: str,
    type_: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with a problem body straight from ASGI middleware (before any route runs)."""
    body = (
        Problem(
            type=type_,
            title=title,
            status=status,
            detail=detail,
            instance=scope.get("path"),
            request_id=scope.get("state", {}).get("request_id"),
        )
        .model_dump_json(exclude_none=True)
        .encode()
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def _malformed_body(request: Request, reason: str = "Invalid JSON") -> JSONResponse:
    return problem_response(
        _request_id(request),
        400,
        "Malformed request body",
        "The body is not valid UTF-8 JSON, or repeats a key.",
        type_=MALFORMED_BODY,
        instance=request.url.path,
        errors=[FieldError(field="body", message=reason, type="json_invalid")],
    )


async def _validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    invalid = next((p for p in problems if p.get("type") == "json_invalid"), None)
    if invalid is not None:
        reason = str(invalid.get("ctx", {}).get("error", "Invalid JSON"))
        return _malformed_body(
            request, reason if reason.startswith("duplicate key") else "Invalid JSON"
        )
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
    return problem_response(
        _request_id(request),
        422,
        "Request validation failed",
        detail,
        type_=VALIDATION,
        instance=request.url.path,
        errors=listed,
    )


async def _http_problem(request: Request, error: StarletteHTTPException) -> JSONResponse:
    status = error.status_code
    if status == 400:  # FastAPI's own answer to a body it cannot decode
        return _malformed_body(request)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    detail = (
        error.detail
        if isinstance(error.detail, str) and error.detail != phrase
        else {
            404: f"Nothing is served at {request.url.path}.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }.get(status, phrase)
    )
    return problem_response(
        _request_id(request),
        status,
        phrase,
        detail,
        instance=request.url.path,
        headers=getattr(error, "headers", None),
    )


async def _model_not_found(request: Request, error: VersionNotFoundError) -> JSONResponse:
    return problem_response(
        _request_id(request),
        404,
        "Model version not found",
        f"{error}. GET /models lists the stored versions.",
        type_=MODEL_NOT_FOUND,
        instance=request.url.path,
    )


async def _model_unavailable(request: Request, error: ModelUnavailableError) -> JSONResponse:
    return problem_response(
        _request_id(request),
        503,
        "Model unavailable",
        str(error),
        type_=MODEL_UNAVAILABLE,
        instance=request.url.path,
        headers={"Retry-After": "30"},
    )


class ReloadFailedError(Exception):
    """A reload was refused; the version that served before still serves."""

    def __init__(self, ref: str, serving: str | None, error: Exception) -> None:
        super().__init__(f"{public_reason(ref, error)}; still serving {serving or 'nothing'}")


async def _reload_failed(request: Request, error: ReloadFailedError) -> JSONResponse:
    return problem_response(
        _request_id(request),
        409,
        "Reload refused",
        str(error),
        type_=RELOAD_FAILED,
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(StarletteHTTPException, _http_problem)
    app.add_exception_handler(VersionNotFoundError, _model_not_found)
    app.add_exception_handler(ModelUnavailableError, _model_unavailable)
    app.add_exception_handler(ReloadFailedError, _reload_failed)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI descriptions of a route's error responses, all in the problem shape."""
    descriptions = {
        400: "Malformed JSON body.",
        401: "A valid API key is required (when keys are configured).",
        409: "The new model could not be loaded; the previous one keeps serving.",
        413: "The body is larger than MAX_BODY_BYTES.",
        504: "No answer within REQUEST_TIMEOUT_SECONDS.",
        404: "Unknown model version or alias.",
        422: "A field broke the contract; `errors` names each field and rule.",
        503: "No model can answer (not loaded, or refused at load), or too many requests are "
        "in flight (with Retry-After); see `detail`.",
    }
    return {
        status: {
            "description": descriptions[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
