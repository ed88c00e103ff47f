"""API keys and their scopes, as FastAPI security dependencies on the routers that need them.

One declaration serves both enforcement and documentation: the two schemes below are
what OpenAPI's `securitySchemes` lists, and each router is included with
`requires(scope)` (or `authenticated` for the page and docs), which marks its operations
as secured and names the scope they need. Health checks never depend on either.

Only SHA-256 digests of keys are configured, and a presented key's digest is compared
with every stored one in constant time, so neither timing nor a leaked configuration
reveals a key. A matched key's id goes on the request context, for the decision log and
the access line.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security, params
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBearer,
    SecurityScopes,
)

from service.context import Context
from service.errors import PROBLEM_PREFIX, ServiceError
from service.keys import ApiKeyEntry, Scope, key_digest

bearer_scheme = HTTPBearer(
    scheme_name="ApiKeyBearer",
    description="`Authorization: Bearer <key>` (when the service is configured with keys).",
    auto_error=False,
)
header_scheme = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKeyHeader",
    description="`X-API-Key: <key>` (when the service is configured with keys).",
    auto_error=False,
)


class UnauthorizedError(ServiceError):
    status = 401
    type = PROBLEM_PREFIX + "unauthorized"
    title = "Authentication required"
    description = "A valid API key is required (when keys are configured)."

    def __init__(self) -> None:
        super().__init__(
            "Send a valid API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
            headers={"WWW-Authenticate": 'Bearer realm="credit-default"'},
        )


class ForbiddenError(ServiceError):
    status = 403
    type = PROBLEM_PREFIX + "forbidden"
    title = "Scope required"
    description = "The key is valid but lacks the scope this operation needs."

    def __init__(self, scope: str) -> None:
        super().__init__(f"This operation needs a key with the `{scope}` scope.")


def _match(key: str, entries: tuple[ApiKeyEntry, ...]) -> ApiKeyEntry | None:
    presented = key_digest(key)
    matched = None
    for entry in entries:  # no early exit: every check costs the same
        if hmac.compare_digest(presented, entry.digest_bytes):
            matched = entry
    return matched


async def authorize(
    security_scopes: SecurityScopes,
    request: Request,
    context: Context,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(header_scheme)],
) -> ApiKeyEntry | None:
    """The configured key the request presents, if it holds every scope the operation
    declares (None when no keys are configured): 401 without a valid key, 403 with a
    valid key that lacks a scope."""
    entries: tuple[ApiKeyEntry, ...] = request.app.state.api_keys
    if not entries:
        return None
    key = bearer.credentials if bearer is not None else header_key
    entry = _match(key, entries) if key else None
    if entry is None:
        raise UnauthorizedError
    context.key_id = entry.id
    for scope in security_scopes.scopes:
        if scope not in entry.scopes:
            raise ForbiddenError(scope)
    return entry


def requires(scope: Scope) -> params.Security:
    """The dependency of a router whose operations need `scope`; OpenAPI lists the scope
    in each operation's security requirement."""
    return Security(authorize, scopes=[scope])


authenticated = Security(authorize)  # any valid key: the page and docs when not public
