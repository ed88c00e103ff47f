"""API keys, as a FastAPI security dependency on the routers that need it.

One declaration serves both enforcement and documentation: the two schemes below are
what OpenAPI's `securitySchemes` lists, and the routers that depend on `require_api_key`
are the operations it marks as secured. Health checks never depend on it.

Only SHA-256 digests of keys are configured, and a presented key's digest is compared
with every stored one in constant time, so neither timing nor a leaked configuration
reveals a key.
"""

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.errors import PROBLEM_PREFIX, ServiceError

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


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _matches(key: str, digests: tuple[bytes, ...]) -> bool:
    presented = key_digest(key)
    matched = False
    for digest in digests:  # no early exit: every check costs the same
        matched |= hmac.compare_digest(presented, digest)
    return matched


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(header_scheme)],
) -> None:
    """Lets the request through when no keys are configured or its key is one of them."""
    digests: tuple[bytes, ...] = request.app.state.api_key_digests
    if not digests:
        return
    key = bearer.credentials if bearer is not None else header_key
    if not key or not _matches(key, digests):
        raise UnauthorizedError


ApiKey = Depends(require_api_key)
