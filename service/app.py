"""The application factory: settings in, a wired FastAPI app out.

It only wires: the registry and the decision log behind the data plane, the middleware
in its order, the routers with the scopes they need, the problem handler and the
OpenAPI document. What each part does lives in its own module.
"""

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from model_store import ModelStore
from service.dataplane import DataPlane
from service.decisions import open_decision_log
from service.errors import install_problem_handler
from service.heap import settle, share_heaps
from service.keys import Scope
from service.metrics import worker_exited
from service.middleware.access_log import AccessLogMiddleware
from service.middleware.limits import LimitsMiddleware
from service.middleware.memory_release import MemoryReleaseMiddleware
from service.middleware.request_id import RequestIdMiddleware
from service.middleware.security_headers import SecurityHeadersMiddleware
from service.openapi_document import DESCRIPTION, document
from service.registry import ModelRegistry
from service.routes import (
    admin,
    decisions,
    health,
    models,
    monitoring,
    outcomes,
    page,
    predict,
    promotions,
    reasons,
)
from service.security import authenticated, requires
from service.settings import ServiceSettings

log = logging.getLogger("service.access")


# What each router's operations need: the one table of who may do what.
ROUTER_SCOPES: tuple[tuple[Any, Scope], ...] = (
    (predict, "score"),
    (models, "models:read"),
    (reasons, "models:read"),
    (admin, "admin"),
    (promotions, "admin"),
    (decisions, "audit"),
    (monitoring, "metrics"),
    (outcomes, "outcomes"),
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    share_heaps()  # before the worker's threads start
    registry = ModelRegistry(
        ModelStore(settings.model_store_dir),
        settings.model_version,
        settings.model_cache_size,
        settings.scoring_threads,
        settings.shadow_refs,
    )
    decision_log = open_decision_log(
        settings.decision_log_target,
        settings.decision_log_timeout_seconds,
        settings.decision_log_retry_seconds,
        settings.decision_log_retention_days,
    )
    if settings.anonymous:
        log.warning("no API_KEYS configured: every endpoint is open to anyone who can connect")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry.load_default()  # once per process; requests never load models
        await decision_log.start()
        settle()  # what the worker holds for good, out of every later collection's way
        watcher = None
        if settings.model_watch_seconds > 0:
            watcher = asyncio.create_task(registry.watch(settings.model_watch_seconds))
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
    app.state.plane = DataPlane(registry, decision_log, settings.challenger_share)
    app.state.api_keys = settings.api_key_entries  # parsed once, read per request
    install_problem_handler(app)
    # Added innermost first: CORS, limits, memory release, access log, request id,
    # security headers (outermost).
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "X-Request-ID",
                "X-Subject-ID",
            ],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_in_flight=settings.max_in_flight,
        timeout_seconds=settings.request_timeout_seconds,
    )
    app.add_middleware(MemoryReleaseMiddleware)
    app.add_middleware(AccessLogMiddleware)  # metrics and the access line, refusals included
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # With keys configured, each router but health's depends on the scope its operations
    # need (the page's and the docs' on any valid key, with PUBLIC_DOCS=false); that one
    # declaration is both the enforcement and OpenAPI's security requirements. Without keys
    # nothing is checked, so no dependency runs and no operation claims to need one.
    keyed = not settings.anonymous
    for module, scope in ROUTER_SCOPES:
        app.include_router(module.router, dependencies=[requires(scope)] if keyed else [])
    app.include_router(health.router)
    app.include_router(
        page.router, dependencies=[authenticated] if keyed and not settings.public_docs else []
    )
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    return app
