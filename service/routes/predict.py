"""POST /predict and POST /predict/batch."""

import numpy as np
from fastapi import APIRouter

from schemas.api import BatchPrediction, BatchRequest, Prediction, ScoredCustomer
from schemas.features import CustomerFeatures
from service.problems import problem_responses
from service.routes.deps import Registry, VersionQuery

router = APIRouter(tags=["prediction"])


@router.post(
    "/predict",
    response_model=Prediction,
    summary="Score one customer",
    responses=problem_responses(400, 404, 422, 503),
)
def predict(
    customer: CustomerFeatures, registry: Registry, version: VersionQuery = None
) -> Prediction:
    """Probability that the customer defaults on next month's payment, and the decision at
    the model's saved threshold."""
    predictor = registry.get(version)
    probability = float(predictor.predict_proba(np.array([customer.as_row()]))[0])
    return Prediction(
        probability=probability,
        default=probability >= predictor.threshold,
        threshold=predictor.threshold,
        model_version=predictor.version,
    )


@router.post(
    "/predict/batch",
    response_model=BatchPrediction,
    summary="Score up to 10,000 customers",
    responses=problem_responses(400, 404, 422, 503),
)
def predict_batch(
    batch: BatchRequest, registry: Registry, version: VersionQuery = None
) -> BatchPrediction:
    """Predictions in input order, identical to /predict for the same rows. If any customer
    breaks the contract, nothing is scored and each error names `customers[i].field`."""
    predictor = registry.get(version)
    rows = np.array([customer.as_row() for customer in batch.customers])
    probabilities = predictor.predict_proba(rows)
    decisions = probabilities >= predictor.threshold
    return BatchPrediction(
        model_version=predictor.version,
        threshold=predictor.threshold,
        count=len(rows),
        predictions=[
            ScoredCustomer(probability=p, default=d)
            for p, d in zip(probabilities.tolist(), decisions.tolist(), strict=True)
        ],
    )
