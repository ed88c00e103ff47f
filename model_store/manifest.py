"""The manifest of a model version: what it was trained on, how, how good it is, and the
SHA-256 of every artifact it owns.

Typed throughout, so a manifest that lost a field, or gained one nobody knows, is refused
when it is read rather than discovered by a validator months later.
"""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DataProvenance(_Record):
    file_name: str
    sha256: str = Field(description="SHA-256 of the training data file, as read.")
    rows: int = Field(description="Data rows in the file.")
    rows_used: int = Field(description="Rows that passed the feature contract and were used.")
    rows_rejected: int
    rejected_reasons: dict[str, int] = Field(
        description="Rejected rows counted by field and broken rule."
    )


class DecisionThreshold(_Record):
    value: Probability
    rule: str = Field(description="How the threshold was chosen, on training data only.")


class LibraryVersions(_Record):
    """Versions of what trained and compiled the model. Serving reads none of them: the
    compiled model is plain ONNX, and only training tools unpickle the pipeline."""

    python: str
    scikit_learn: str
    numpy: str
    joblib: str
    pandas: str
    onnxruntime: str
    skl2onnx: str


class CompiledArtifact(_Record):
    """The pipeline compiled for onnxruntime: the one artifact that scores."""

    file: str
    sha256: str = Field(description="SHA-256 of `file`; checked on every load.")
    engine: str = Field(description="Runtime that scored it at training, with its version.")
    max_abs_difference: float = Field(
        description="Largest |compiled - scikit-learn| probability over `verified_rows`."
    )
    verified_rows: int = Field(description="Rows compared before the version was saved.")


class ForestParameters(_Record):
    n_estimators: int
    criterion: str
    max_features: float | int | str | None
    min_samples_leaf: int


class Hyperparameters(_Record):
    forest: ForestParameters
    feature_groups: list[str] = Field(description="Engineered feature groups the model uses.")
    chosen_by: str


class Calibration(_Record):
    method: str = Field(
        description="`none`: the forest's own probability is served, so reasons add up to it "
        "(versions from before reason codes may name a calibrator)."
    )
    chosen_by: str
    cv_brier: dict[str, float] = Field(description="Out-of-fold Brier score of each method.")
    wrapper: str | None
    cv_folds: int


class CrossValidation(_Record):
    folds: int
    roc_auc_per_fold: list[float]
    roc_auc_mean: float
    roc_auc_std: float
    train_rows: int
    holdout_rows: int


class HeldOutMetrics(_Record):
    """Metrics on the held-out split, which no fit ever saw."""

    roc_auc: float
    pr_auc: float
    brier: float
    log_loss: float
    ece: float = Field(description="Expected calibration error, 10 equal-width bins.")
    accuracy: float
    precision: float
    recall: float
    f1: float
    threshold: float
    rows: int


class ExplainerArtifact(_Record):
    """The forest flattened to plain arrays for exact TreeSHAP reason codes at serve time."""

    file: str
    sha256: str = Field(description="SHA-256 of `file`; checked on every load.")
    method: str
    model_inputs: list[str] = Field(
        description="The model's inputs in the order the contributions come, each in "
        "exactly one reason code (GET /reasons)."
    )
    base: float = Field(description="Expected value: the probability before any input.")
    max_abs_difference: float = Field(
        description="Largest |base + sum of contributions - served probability| over "
        "`verified_rows`."
    )
    verified_rows: int


class ReportArtifact(_Record):
    """The self-contained HTML model report for validators."""

    file: str
    sha256: str


class ProtectedAttributes(_Record):
    """Whether sex, marital status and age are model inputs, and what that changes."""

    attributes: list[str]
    in_model: bool = Field(description="False for the default model: the API still validates them.")
    held_out_without: HeldOutMetrics = Field(description="A model without them, held-out rows.")
    held_out_with: HeldOutMetrics = Field(description="A model with them, same rows.")


class DriftBins(_Record):
    """One distribution, binned: the reference for population stability (PSI)."""

    kind: Literal["categories", "deciles"] = Field(
        description="categories: one bin per value in `edges`, then one for any other "
        "value; deciles: the cut points in `edges` (a value equal to a cut goes above it)."
    )
    edges: list[float]
    shares: list[float] = Field(description="Each bin's share of the reference rows.")


class DriftReference(_Record):
    """What the model's customers looked like, to measure drift against (model_store.drift)."""

    description: str
    rows: int
    inputs: dict[str, DriftBins] = Field(description="Each of the 23 inputs.")
    score: DriftBins = Field(description="The served probability.")


class Baseline(_Record):
    """The original project's forest, trained and evaluated in the same run."""

    description: str
    hyperparameters: ForestParameters
    metrics: HeldOutMetrics


class ModelManifest(_Record):
    """Everything needed to know where a model version came from and how good it is."""

    version: str
    created_at: datetime
    model_file: str = Field(
        description="The fitted scikit-learn pipeline (joblib), kept for training tools, "
        "audit and recompiling; the service never reads it."
    )
    model_sha256: str = Field(description="SHA-256 of `model_file`.")
    compiled: CompiledArtifact
    data: DataProvenance
    feature_names: list[str] = Field(description="Input columns, in the order the model expects.")
    feature_schema: dict[str, object] = Field(description="JSON schema of the input contract.")
    engineered_features: list[str]
    hyperparameters: Hyperparameters
    calibration: Calibration
    cv_results: CrossValidation
    metrics: HeldOutMetrics
    baseline: Baseline
    threshold: DecisionThreshold
    seed: int
    quick: bool = Field(description="True for a fast, small fit meant for tests only.")
    training_seconds: float
    libraries: LibraryVersions
    # Versions trained before reason codes and reports have none of these three.
    explainer: ExplainerArtifact | None = None
    report: ReportArtifact | None = None
    protected_attributes: ProtectedAttributes | None = None
    # Versions trained before drift monitoring have none.
    drift_reference: DriftReference | None = None

    def artifact_checksums(self) -> dict[str, str]:
        """File name -> SHA-256 of every file the version owns besides this manifest."""
        checksums = {self.model_file: self.model_sha256, self.compiled.file: self.compiled.sha256}
        for artifact in (self.explainer, self.report):
            if artifact is not None:
                checksums[artifact.file] = artifact.sha256
        return checksums

    def serving_files(self) -> list[str]:
        """What a service needs of the version (no pickle): compiled model, explainer, report."""
        return [a.file for a in (self.compiled, self.explainer, self.report) if a is not None]
