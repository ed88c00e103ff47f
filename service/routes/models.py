"""GET /models and GET /models/{version}: what is stored and what is served."""

from typing import Final

from fastapi import APIRouter

from schemas.api import ModelDetails, ModelList, ModelSummary
from service.predictor import serving_engine
from service.problems import problem_responses
from service.routes.deps import Registry

router = APIRouter(tags=["models"])

HEADLINE_METRICS: Final = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "f1")


@router.get("/models", response_model=ModelList, summary="List stored model versions")
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
                metrics={k: m.metrics[k] for k in HEADLINE_METRICS if k in m.metrics},
            )
            for m in registry.store.list()
        ],
    )


@router.get(
    "/models/{version}",
    response_model=ModelDetails,
    summary="One version's manifest",
    responses=problem_responses(404),
)
def get_model(version: str, registry: Registry) -> ModelDetails:
    """Provenance, hyperparameters, CV results and held-out metrics of a version (an alias
    such as `production` is resolved), and the engine that scores it here."""
    manifest = registry.store.get(version)
    return ModelDetails(**dict(manifest), serving_engine=serving_engine(manifest))
