"""Drift monitoring: recent decisions from the log against the serving model's reference
distributions (stored in its manifest at training), by population stability index."""

import numpy as np

from model_store.drift import bin_shares, psi, status
from model_store.manifest import DriftBins, ModelManifest
from schemas import FEATURE_NAMES
from schemas.api import DriftReport, FeatureDrift
from service.decisions import DecisionLog, DecisionLogDisabledError
from service.errors import PROBLEM_PREFIX, ServiceError
from service.metrics import PSI


class DriftUnavailableError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "drift-unavailable"
    title = "Drift cannot be measured"
    description = (
        "No decision of the serving model is on record yet, the decision log is off, or the "
        "model was trained before drift references existed."
    )


def _drift(bins: DriftBins, values: np.ndarray) -> FeatureDrift:
    recent = bin_shares(values, bins)
    value = psi(np.asarray(bins.shares), recent)
    return FeatureDrift(
        psi=value,
        status=status(value),
        kind=bins.kind,
        edges=bins.edges,
        reference=bins.shares,
        recent=recent.tolist(),
    )


def measure_drift(decisions: DecisionLog, manifest: ModelManifest, window: int) -> DriftReport:
    """PSI of each input and of the score over the latest `window` decisions of the
    serving version; also published as the credit_default_psi gauges."""
    try:
        store = decisions.reader()
    except DecisionLogDisabledError:
        raise DriftUnavailableError("The decision log is off (DECISION_LOG_URL=none).") from None
    reference = manifest.drift_reference
    if reference is None:
        raise DriftUnavailableError(
            f"Model {manifest.version} was trained before drift references: retrain it."
        )
    inputs, probabilities = store.recent(manifest.version, window)
    if len(probabilities) == 0:
        raise DriftUnavailableError(f"No decision of model {manifest.version} is on record yet.")
    report = DriftReport(
        model_version=manifest.version,
        window=len(probabilities),
        window_size=window,
        inputs={
            name: _drift(reference.inputs[name], inputs[:, index])
            for index, name in enumerate(FEATURE_NAMES)
        },
        score=_drift(reference.score, probabilities),
    )
    for name, drift in report.inputs.items():
        PSI.labels(name).set(drift.psi)
    PSI.labels("score").set(report.score.psi)
    return report
