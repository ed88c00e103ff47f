"""GET /models and GET /models/{version}: what is stored and what is served."""

from fastapi import APIRouter

from model_store.runtime import ENGINE
from schemas.api import ModelDetails, ModelList, ModelSummary
from service.errors import problem_responses
from service.predictor import ModelNotFoundError
from service.routes.deps import Registry
from service.security import UnauthorizedError

router = APIRouter(tags=["models"])


@router.get(
    "/models",
    operation_id="listModels",
    summary="List stored model versions",
    responses=problem_responses(UnauthorizedError),
)
def list_models(registry: Registry) -> ModelList:
    aliases = registry.store.aliases()
    serving = registry.default.version if registry.default else None
    return ModelList(
        serving_version=serving,
        models=[
            ModelSummary(
                version=m.version,
                created_at=m.created_at,
                aliases=[name for name, version in aliases.items() if version == m.version],
                serving=m.version == serving,
                quick=m.quick,
                threshold=m.threshold.value,
                metrics=m.metrics,
            )
            for m in registry.store.list()
        ],
    )


@router.get(
    "/models/{version}",
    operation_id="getModel",
    summary="One version's manifest",
    responses=problem_responses(UnauthorizedError, ModelNotFoundError),
)
def get_model(version: str, registry: Registry) -> ModelDetails:
    """Provenance, hyperparameters, CV results and held-out metrics of a version (an alias
    such as `production` is resolved), and the engine that scores it here."""
    manifest = registry.manifest(version)
    return ModelDetails(**dict(manifest), serving_engine=ENGINE)
