"""The app's OpenAPI document: FastAPI's, completed with the problem shape for every
error and the bodies the strict reader parses, and the API's description."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from schemas.api import BatchRequest, OutcomesRequest, Problem, PromotionRequest
from schemas.features import CustomerFeatures
from service.errors import ValidationFailedError, problem_responses

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
  needs: `score`, `models:read`, `admin`, `audit`, `metrics` or `outcomes`. A valid key
  without it gets a `403`.
* Every customer scored is on record in the decision log before the answer goes out
  (`GET /decisions`, `audit` scope); when it cannot be recorded, scoring answers `503`.
* The same customer gets the same probability, bit for bit, from `/predict`, from
  `/predict/batch` at any size and position, and from the file scorer.
"""


def document(app: FastAPI) -> dict[str, Any]:
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
        for model in (Problem, CustomerFeatures, BatchRequest, OutcomesRequest, PromotionRequest):
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        app.openapi_schema = schema
    return app.openapi_schema
