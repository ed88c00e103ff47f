"""Service settings, read from environment variables (or a .env file) once at start-up.

The start-up policy lives here too, as validators: settings that would expose the service
in a way nobody asked for (no keys where keys are required) are refused before anything
starts, with the same message from `python -m service`, the app factory and the image.
"""

from typing import Final, Literal

from pydantic import Field, field_validator, model_validator

from model_store.settings import StoreSettings
from model_store.store import ALIAS_PATTERN, VERSION_PATTERN
from service.keys import ApiKeyEntry, parse_api_keys

DEFAULT_DECISION_LOG_FILE: Final = "decisions.sqlite3"


class ServiceSettings(StoreSettings):
    """The store's settings plus the server's. docs/settings.md is generated from these
    fields and their descriptions (`make docs`); a test fails when it falls behind."""

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    model_cache_size: int = Field(
        3, ge=1, le=32, description="Other versions kept loaded for requests with ?version= (LRU)."
    )
    workers: int = Field(
        1, ge=1, le=64, description="Uvicorn worker processes; one per core uses every core."
    )
    scoring_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="Slices of a request of 512 rows or more scored at once per process (0: one "
        "per core); each slice runs on a one-thread session, so the answer's bits do not "
        "depend on it.",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="Lowest level logged: critical, error, warning, info or debug."
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="json: one JSON object per line, for log pipelines (the image's "
        "default); text: lines for a person.",
    )

    # -- access and limits -------------------------------------------------------------------
    api_keys: str = Field(
        "",
        description="The accepted API keys, as a JSON list of "
        '`{"id": ..., "digest": "sha256:<64 hex>", "scopes": [...]}` (scopes: score, '
        "models:read, admin, audit, metrics, outcomes), or as comma-separated digests, each "
        "of which gets score and models:read; `python -m service.keys` makes a key and its digest. "
        "Empty: no authentication, with a warning at start-up.",
    )
    require_api_keys: bool = Field(
        False, description="Refuse to start without API_KEYS (the image sets this)."
    )
    allow_anonymous: bool = Field(
        False, description="With REQUIRE_API_KEYS: start without keys anyway, everything open."
    )
    public_docs: bool = Field(
        True, description="With keys: /docs, /redoc, /openapi.json, / and /static stay open."
    )
    cors_allow_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS; empty: CORS closed."
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted, declared or streamed (413 beyond; a "
        "full 10,000-customer batch is about 4 MB).",
    )
    max_in_flight: int = Field(
        64,
        ge=1,
        description="Requests handled at once per worker (503 with Retry-After beyond; "
        "/health/ is exempt).",
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

    # -- champion and challengers -------------------------------------------------------------
    shadow_models: str = Field(
        "",
        description="Comma-separated versions or aliases (e.g. `challenger`) that score every "
        "customer of /predict and /predict/batch in shadow, recorded beside each decision and "
        "never answered; an alias's moves are followed like MODEL_VERSION's. Empty: none.",
    )
    challenger_share: float = Field(
        0.0,
        ge=0.0,
        le=50.0,
        description="Percentage of customers (0 to 50) decided by the challenger, the first of "
        "SHADOW_MODELS, assigned by a stable hash of X-Subject-ID (`subject_ids` in a batch; "
        "the request id without it); the champion then scores them in shadow. 0: off.",
    )

    # -- monitoring ------------------------------------------------------------------------------
    drift_window: int = Field(
        5000,
        ge=100,
        le=200_000,
        description="How many of the latest decisions of the serving model drift (PSI) is "
        "measured over.",
    )

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, value: str) -> str:
        parse_api_keys(value)  # raises ValueError naming the broken rule
        return value

    @field_validator("shadow_models")
    @classmethod
    def _shadows(cls, value: str) -> str:
        refs = [ref.strip() for ref in value.split(",") if ref.strip()]
        for ref in refs:
            if not (VERSION_PATTERN.match(ref) or ALIAS_PATTERN.match(ref)):
                raise ValueError(f"SHADOW_MODELS: {ref!r} is neither a version id nor an alias")
        if len(set(refs)) != len(refs):
            raise ValueError("SHADOW_MODELS names a version or alias twice")
        return value

    @model_validator(mode="after")
    def _challenger_needs_a_shadow(self) -> "ServiceSettings":
        if self.challenger_share > 0 and not self.shadow_refs:
            raise ValueError(
                "CHALLENGER_SHARE is above 0 but SHADOW_MODELS is empty: the challenger is the "
                "first of SHADOW_MODELS"
            )
        if self.model_version in self.shadow_refs:
            raise ValueError("SHADOW_MODELS names MODEL_VERSION, the champion itself")
        return self

    @property
    def shadow_refs(self) -> tuple[str, ...]:
        """SHADOW_MODELS as a tuple of versions and aliases, in the order given."""
        return tuple(ref.strip() for ref in self.shadow_models.split(",") if ref.strip())

    @model_validator(mode="after")
    def _keys_where_required(self) -> "ServiceSettings":
        """Refuse to run keyless where keys are required (the image), unless explicitly asked."""
        if self.require_api_keys and not self.allow_anonymous and not self.api_key_entries:
            raise ValueError(
                "REQUIRE_API_KEYS is set but API_KEYS is empty: set API_KEYS (python -m "
                "service.keys makes one) or, to serve without authentication, ALLOW_ANONYMOUS=true"
            )
        return self

    @property
    def anonymous(self) -> bool:
        """True when no key is configured: every endpoint is open (warned at start-up)."""
        return not self.api_key_entries

    @property
    def api_key_entries(self) -> tuple[ApiKeyEntry, ...]:
        return parse_api_keys(self.api_keys)

    @property
    def decision_log_target(self) -> str | None:
        """The log's database URL (None when the log is off): DECISION_LOG_URL, or by
        default an SQLite file beside the model store's directory."""
        if self.decision_log_url.strip().lower() == "none":
            return None
        if self.decision_log_url:
            return self.decision_log_url
        path = self.model_store_dir.resolve().parent / DEFAULT_DECISION_LOG_FILE
        return f"sqlite:///{path}"

    # -- the decision log ----------------------------------------------------------------------
    decision_log_url: str = Field(
        "",
        description="Where every decision is recorded: empty for an SQLite file "
        f"({DEFAULT_DECISION_LOG_FILE}) beside the model store's directory, sqlite:///PATH, "
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or none to record nothing (with a "
        "warning at start-up). The image sets /var/lib/credit-default/decisions.sqlite3. "
        "Also read by `python -m service.decisions`.",
    )
    decision_log_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="How long a decision-log write may wait for the database (a lock, a "
        "connection) before scoring answers 503 decision-log-unavailable.",
    )
    decision_log_retry_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="While the log is unavailable, how often each worker tries it again.",
    )
    decision_log_retention_days: int = Field(
        0,
        ge=0,
        description="Delete records older than this many days, at start-up and hourly (0: keep "
        "every record).",
    )

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]
