"""Service settings, read from environment variables (or a .env file) once at start-up."""

import re
from typing import Literal

from pydantic import Field, field_validator

from model_store.settings import StoreSettings


class ServiceSettings(StoreSettings):
    """The store's settings plus the server's. Every field is documented in the README's
    settings table; keep the two in step."""

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    model_cache_size: int = Field(
        3, ge=1, le=32, description="Other versions kept loaded for requests with ?version=."
    )
    workers: int = Field(
        1, ge=1, le=64, description="Server processes; one per core uses every core."
    )
    scoring_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="Slices of a large request scored at once per process (0: one per core).",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    # -- access and limits -------------------------------------------------------------------
    api_keys: str = Field(
        "",
        description="Comma-separated SHA-256 digests of the accepted API keys, each written "
        "sha256:<64 hex>; `python -m service.keys` makes a key and its digest.",
    )
    require_api_keys: bool = Field(
        False, description="Refuse to start without API_KEYS (the image sets this)."
    )
    allow_anonymous: bool = Field(
        False, description="With REQUIRE_API_KEYS: start without keys anyway, everything open."
    )
    public_docs: bool = Field(
        True, description="With keys configured: /docs, /redoc, /openapi.json and / stay open."
    )
    cors_allow_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS; empty: CORS closed."
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 beyond)."
    )
    max_in_flight: int = Field(
        64, ge=1, description="Requests handled at once per worker (503 with Retry-After beyond)."
    )
    request_timeout_seconds: float = Field(
        30.0, gt=0, description="A request still unanswered after this long gets a 504."
    )
    model_watch_seconds: float = Field(
        2.0,
        ge=0,
        description="How often each worker checks the store for a new MODEL_VERSION target "
        "and hot-swaps to it (0: only on POST /admin/reload).",
    )

    @field_validator("api_keys")
    @classmethod
    def _digests(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", item):
                raise ValueError(
                    "each API_KEYS entry must be sha256:<64 lower-case hex digits> "
                    "(the digest of a key, never the key itself)"
                )
        return value

    @property
    def api_key_digests(self) -> tuple[bytes, ...]:
        return tuple(
            bytes.fromhex(part.strip().removeprefix("sha256:"))
            for part in self.api_keys.split(",")
            if part.strip()
        )

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]
