"""The request context: what the service knows about the request being handled, typed.

The request-id middleware makes one per request; the key check fills in the key, the
data plane the model version and the customers scored, and the access-log middleware
reads it all once the answer has gone. One object in place of loose `request.state`
keys, so a misspelt field is an error rather than a silent `None`.

It is also the current context of the request's task (and of the threads it hands work
to, which copy the context), so log lines written anywhere while it is handled carry
its request id.
"""

from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request
from starlette.types import Scope

_SCOPE_KEY: Final = "credit_default.context"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    path: str  # as requested, e.g. /predict/batch (the decision log's `route`)
    key_id: str | None = None  # the API key that authenticated it; None without keys
    model_version: str | None = None  # the version whose decisions it answered
    customers: int | None = None  # how many customers it answered for


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def bind(scope: Scope, context: RequestContext) -> Token[RequestContext | None]:
    """Make `context` the request's (for the app) and the task's (for log lines)."""
    scope[_SCOPE_KEY] = context
    return _current.set(context)


def unbind(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def context_of(scope: Scope) -> RequestContext | None:
    """The context of the request `scope` belongs to (None before the request-id
    middleware has run, which is only ever true in a test that skips it)."""
    return scope.get(_SCOPE_KEY)


def current_request_id() -> str | None:
    """The id of the request being handled by this task or thread, if any."""
    context = _current.get()
    return None if context is None else context.request_id


async def request_context(request: Request) -> RequestContext:
    # async on purpose: FastAPI runs a plain-def dependency in the thread pool.
    context = context_of(request.scope)
    if context is None:  # pragma: no cover - the middleware always runs first
        raise RuntimeError("no request context: RequestIdMiddleware is not installed")
    return context


Context = Annotated[RequestContext, Depends(request_context)]
