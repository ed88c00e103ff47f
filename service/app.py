"""The application factory: settings in, a configured FastAPI app out."""

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware

from model_store import ModelStore, ModelStoreError
from schemas.api import BatchRequest, Problem
from schemas.features import CustomerFeatures
from service.access import AccessMiddleware
from service.decisions import open_decision_log
from service.errors import (
    ServiceError,
    ValidationFailedError,
    install_problem_handler,
    problem_responses,
)
from service.guards import LimitsMiddleware, SecurityHeadersMiddleware
from service.keys import Scope
from service.metrics import worker_exited
from service.middleware import RequestIdMiddleware
from service.predictor import ModelRegistry
from service.routes import admin, decisions, health, models, monitoring, page, predict, reasons
from service.security import authenticated, requires
from service.settings import ServiceSettings

log = logging.getLogger("service.access")


# What each router's operations need: the one table of who may do what.
ROUTER_SCOPES: tuple[tuple[Any, Scope], ...] = (
    (predict, "score"),
    (models, "models:read"),
    (reasons, "models:read"),
    (admin, "admin"),
    (decisions, "audit"),
    (monitoring, "metrics"),
)


class StartupRefusedError(RuntimeError):
    """The settings would expose the service in a way nobody asked for."""


def check_access(settings: ServiceSettings, warn: bool = True) -> None:
    """Refuse to run keyless where keys are required (the image), unless explicitly asked."""
    if settings.api_key_entries:
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
        except ServiceError as error:
            refused = target
            log.error("model watch refused %s: %s; still serving %s", target, error, serving)


DESCRIPTION = """
Predicts whether a credit-card customer defaults on next month's payment, from the 23
features of the UCI "default of credit card clients" data (Taiwan, 2005): a random
forest, versioned in a model store with its provenance and held-out metrics.

* Every request body is checked strictly against the documented contract: unknown keys,
  strings for numbers, booleans, NaN/Infinity and out-of-range values are rejected with a
  `422` naming each field and rule, never coerced.
* Every error is an RFC 9457 `application/problem+json` body.
* Every response carries `X-Request-ID` (yours, if you send a valid one).
* When the service is configured with API keys, every operation marked with a lock needs
  one, as `Authorization: Bearer <key>` or `X-API-Key: <key>`; `/health/*` never does.
  Each key holds scopes, and each operation's security requirement names the one it
  needs: `score`, `models:read`, `admin`, `audit` or `metrics`. A valid key without it
  gets a `403`.
* Every customer scored is on record in the decision log before the answer goes out
  (`GET /decisions`, `audit` scope); when it cannot be recorded, scoring answers `503`.
* The same customer gets the same probability, bit for bit, from `/predict`, from
  `/predict/batch` at any size and position, and from the file scorer.
"""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    registry = ModelRegistry(
        ModelStore(settings.model_store_dir),
        settings.model_version,
        settings.model_cache_size,
        settings.scoring_threads,
    )

    decision_log = open_decision_log(
        settings.decision_log_target,
        settings.decision_log_timeout_seconds,
        settings.decision_log_retry_seconds,
        settings.decision_log_retention_days,
    )

    check_access(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry.load_default()  # once per process; requests never load models
        await decision_log.start()
        watcher = None
        if settings.model_watch_seconds > 0:
            watcher = asyncio.create_task(_watch_store(registry, settings.model_watch_seconds))
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await decision_log.stop()
        worker_exited(os.getpid())

    app = FastAPI(
        title="credit-default",
        version="1.0.0",
        summary="Credit-card default risk scoring",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served by service.routes.page from this process's own files: no CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.decision_log = decision_log
    app.state.api_keys = settings.api_key_entries  # parsed once, read per request
    install_problem_handler(app)
    # Added innermost first: CORS, limits, request id, security headers (outermost).
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
    app.add_middleware(AccessMiddleware)  # metrics and the access line, refusals included
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # With keys configured, each router but health's depends on the scope its operations
    # need (the page's and the docs' on any valid key, with PUBLIC_DOCS=false); that one
    # declaration is both the enforcement and OpenAPI's security requirements. Without keys
    # nothing is checked, so no dependency runs and no operation claims to need one.
    keyed = bool(settings.api_key_entries)
    for module, scope in ROUTER_SCOPES:
        app.include_router(module.router, dependencies=[requires(scope)] if keyed else [])
    app.include_router(health.router)
    app.include_router(
        page.router, dependencies=[authenticated] if keyed and not settings.public_docs else []
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the problem shape for every error and the bodies that the
    strict reader parses (documented through each route's `openapi_extra`)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        # FastAPI documents its own 422 shape for parameters; this API answers with a problem.
        problem_422 = problem_responses(ValidationFailedError)[422]
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            if "HTTPValidationError" in str(operation.get("responses", {}).get("422", "")):
                operation["responses"]["422"] = problem_422
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for model in (Problem, CustomerFeatures, BatchRequest):
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        app.openapi_schema = schema
    return app.openapi_schema
