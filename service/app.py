"""The application factory: settings in, a configured FastAPI app out."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware

from model_store import ModelStore, ModelStoreError
from schemas.api import BatchRequest, Problem
from service.guards import ApiKeyMiddleware, LimitsMiddleware, SecurityHeadersMiddleware
from service.middleware import RequestIdMiddleware
from service.predictor import ModelRegistry
from service.problems import install_problem_handlers, problem_responses
from service.routes import admin, health, models, page, predict
from service.settings import ServiceSettings

log = logging.getLogger("service.access")


class StartupRefusedError(RuntimeError):
    """The settings would expose the service in a way nobody asked for."""


def check_access(settings: ServiceSettings, warn: bool = True) -> None:
    """Refuse to run keyless where keys are required (the image), unless explicitly asked."""
    if settings.api_key_digests:
        return
    if settings.require_api_keys and not settings.allow_anonymous:
        raise StartupRefusedError(
            "REQUIRE_API_KEYS is set but API_KEYS is empty: set API_KEYS (python -m "
            "service.keys makes one) or, to serve without authentication, ALLOW_ANONYMOUS=true"
        )
    if warn:
        log.warning("no API_KEYS configured: every endpoint is open to anyone who can connect")


async def _watch_store(registry: ModelRegistry, every: float) -> None:
    """Hot-swap when MODEL_VERSION starts naming another version (a promotion)."""
    refused: str | None = None  # a target that failed its checks; retried once it changes
    while True:
        await asyncio.sleep(every)
        try:
            target = await run_in_threadpool(registry.store.resolve, registry.default_ref)
        except ModelStoreError:
            continue  # alias unset or dangling: keep serving what we have
        serving = registry.default.version if registry.default is not None else None
        if target in (serving, refused):
            continue
        try:
            await run_in_threadpool(registry.reload)
        except ModelStoreError as error:
            refused = target
            log.error("model watch refused %s: %s; still serving %s", target, error, serving)


DESCRIPTION = """
Predicts whether a credit-card customer defaults on next month's payment, from the 23
features of the UCI "default of credit card clients" data (Taiwan, 2005): a calibrated
random forest, versioned in a model store with its provenance and held-out metrics.

* Every request body is checked strictly against the documented contract: unknown keys,
  strings for numbers, booleans, NaN/Infinity and out-of-range values are rejected with a
  `422` naming each field and rule, never coerced.
* Every error is an RFC 9457 `application/problem+json` body.
* Every response carries `X-Request-ID` (yours, if you send a valid one).
* When the service is configured with API keys, every endpoint but `/health/*` (and, by
  default, the documentation and the web page) needs one, as `Authorization: Bearer <key>`
  or `X-API-Key: <key>`.
"""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    registry = ModelRegistry(
        ModelStore(settings.model_store_dir),
        settings.model_version,
        settings.model_cache_size,
        settings.scoring_threads,
    )

    check_access(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry.load_default()  # once per process; requests never load models
        watcher = None
        if settings.model_watch_seconds > 0:
            watcher = asyncio.create_task(_watch_store(registry, settings.model_watch_seconds))
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    app = FastAPI(
        title="credit-default",
        version="1.0.0",
        summary="Credit-card default risk scoring",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    install_problem_handlers(app)
    # Added innermost first: keys, CORS, limits, request id, security headers (outermost).
    app.add_middleware(
        ApiKeyMiddleware, digests=settings.api_key_digests, public_docs=settings.public_docs
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_in_flight=settings.max_in_flight,
        timeout_seconds=settings.request_timeout_seconds,
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    for module in (predict, models, health, admin, page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the problem schema that every error response refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        # FastAPI documents its own 422 shape; this API answers 422 with a problem body.
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            if "422" in operation.get("responses", {}) and "HTTPValidationError" in str(
                operation["responses"]["422"]
            ):
                operation["responses"]["422"] = problem_responses(422)[422]
        components.pop("HTTPValidationError", None)
        # API keys (enforced when API_KEYS is set): either header works; health stays open.
        schema["components"]["securitySchemes"] = {
            "ApiKeyBearer": {"type": "http", "scheme": "bearer"},
            "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                if not path.startswith("/health"):
                    operation["security"] = [{"ApiKeyBearer": []}, {"ApiKeyHeader": []}]
                    operation["responses"].setdefault("401", problem_responses(401)[401])
        components.pop("ValidationError", None)
        # Bodies that routes read themselves (the error shape, the raw-parsed batch).
        for model in (Problem, BatchRequest):
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        app.openapi_schema = schema
    return app.openapi_schema
