"""The application factory: settings in, a configured FastAPI app out."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from model_store import ModelStore
from schemas.api import BatchRequest, Problem
from service.middleware import RequestIdMiddleware
from service.predictor import ModelRegistry
from service.problems import install_problem_handlers, problem_responses
from service.routes import health, models, page, predict
from service.settings import ServiceSettings

DESCRIPTION = """
Predicts whether a credit-card customer defaults on next month's payment, from the 23
features of the UCI "default of credit card clients" data (Taiwan, 2005): a calibrated
random forest, versioned in a model store with its provenance and held-out metrics.

* Every request body is checked strictly against the documented contract: unknown keys,
  strings for numbers, booleans, NaN/Infinity and out-of-range values are rejected with a
  `422` naming each field and rule, never coerced.
* Every error is an RFC 9457 `application/problem+json` body.
* Every response carries `X-Request-ID` (yours, if you send a valid one).
"""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    registry = ModelRegistry(
        ModelStore(settings.model_store_dir),
        settings.model_version,
        settings.model_cache_size,
        settings.scoring_threads,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry.load_default()  # once per process; requests never reload it
        yield

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
    app.add_middleware(RequestIdMiddleware)
    for module in (predict, models, health, page):
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
        components.pop("ValidationError", None)
        # Bodies that routes read themselves (the error shape, the raw-parsed batch).
        for model in (Problem, BatchRequest):
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        app.openapi_schema = schema
    return app.openapi_schema
