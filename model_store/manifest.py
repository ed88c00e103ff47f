"""The manifest of a model version: what it was trained on, how, how good it is, and the
SHA-256 of every artifact it owns.

Typed throughout, so a manifest that lost a field, or gained one nobody knows, is refused
when it is read rather than discovered by a validator months later.
"""

import math
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
    origin: str | None = Field(
        default=None,
        description="Where the rows came from when not the data set itself: e.g. a "
        "decision-log export, with its model versions and decision dates.",
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


class OrtFormat(_Record):
    """The compiled graph as onnxruntime saves it in its own format, unoptimised: the same
    operators and weights, which a session holds in half the memory the ONNX protobuf
    takes (13 MiB against 26 MiB for the default model). Saved only once every output
    gave the same bits as `file` on the held-out rows."""

    file: str
    sha256: str = Field(description="SHA-256 of `file`; checked on every load.")


class CompiledArtifact(_Record):
    """The pipeline compiled for onnxruntime: the one artifact that scores."""

    file: str
    sha256: str = Field(description="SHA-256 of `file`; checked on every load.")
    engine: str = Field(description="Runtime that scored it at training, with its version.")
    max_abs_difference: float = Field(
        description="Largest |compiled - scikit-learn| probability over `verified_rows`."
    )
    verified_rows: int = Field(description="Rows compared before the version was saved.")
    # Versions trained before it have none, and serve `file`.
    ort: OrtFormat | None = Field(
        default=None, description="The same graph in onnxruntime's format: what serves."
    )

    @property
    def served_file(self) -> str:
        """The form a service loads: the ORT format where there is one."""
        return self.file if self.ort is None else self.ort.file


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


class Monotonicity(_Record):
    """Whether the risk may fall when a repayment status moves one month later, and the
    evidence, from the same run, on the compiled model."""

    constrained: bool = Field(
        description="True: the probability never falls when a status moves one month later "
        "(0 -> 1, k -> k + 1), whatever the other inputs; training refused anything else."
    )
    increasing_inputs: list[str] = Field(
        description="Model inputs the forest is held to rise with (empty if unconstrained)."
    )
    leaf_calibration: tuple[float, float] | None = Field(
        description="(a, b) of sigmoid(a + b * logit(v)), applied to every leaf of a "
        "constrained forest, fitted on the training split's out-of-fold trees."
    )
    held_out_constrained: HeldOutMetrics = Field(
        description="A constrained model on the held-out rows."
    )
    held_out_unconstrained: HeldOutMetrics = Field(
        description="An unconstrained model on the same rows, from the same run."
    )
    moves_checked: int = Field(
        description="Rows of the data set times statuses in 0..8, each moved one month "
        "later and scored by the compiled model."
    )
    moves_lowering_risk: int = Field(description="Of those, moves that lowered the risk.")
    largest_fall: float = Field(description="The most one move lowered the probability.")
    largest_rise: float = Field(description="The most one move raised the probability.")


class ScoreScaling(_Record):
    """How a probability of default becomes score points, the scale banks set strategies
    on: points = offset + factor * ln((1 - p) / p), factor = pdo / ln 2, offset =
    base_score - factor * ln(base_odds), rounded to the nearest integer (halves to even).
    More points, less risk."""

    base_score: float = Field(600.0, description="Points at the base odds.")
    base_odds: float = Field(50.0, gt=0, description="Odds of good, (1 - p) / p, at base_score.")
    pdo: float = Field(20.0, gt=0, description="Points to double the odds.")
    probability_floor: float = Field(
        1e-6,
        gt=0,
        lt=0.5,
        description="Probabilities are taken as at least this and at most 1 minus this, so "
        "that 0 and 1 score finitely, within [min_score, max_score].",
    )

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    @property
    def min_score(self) -> int:
        """The points of a probability of 1 (or anything above 1 - floor)."""
        floor = self.probability_floor
        return round(self.offset + self.factor * math.log(floor / (1 - floor)))

    @property
    def max_score(self) -> int:
        """The points of a probability of 0 (or anything below the floor)."""
        floor = self.probability_floor
        return round(self.offset + self.factor * math.log((1 - floor) / floor))


class Grade(_Record):
    """One grade of the master scale, and how it did on the held-out rows."""

    grade: int = Field(description="1 is the lowest risk; PD rises with the grade.")
    lower_pd: Probability = Field(description="Lowest probability in the grade (inclusive).")
    upper_pd: Probability = Field(
        description="Probability where the next grade starts (exclusive; the last grade's "
        "is 1, inclusive)."
    )
    held_out_customers: int
    mean_pd: float | None = Field(description="Mean served probability of its held-out rows.")
    observed_default_rate: float | None = Field(description="Share of them that defaulted.")
    jeffreys_interval: tuple[float, float] | None = Field(
        description="95% Jeffreys interval of the observed default rate."
    )


class MasterScale(_Record):
    """The rating scale: contiguous PD ranges, one grade each, for customers not in default."""

    chosen_by: str
    grades: list[Grade]
    held_out_check: str = Field(
        description="`passed`: on the held-out rows, observed default rates rise with the "
        "grade and no grade holds more than a third of the customers; `not checked` for "
        "quick versions."
    )

    @property
    def upper_bounds(self) -> list[float]:
        return [grade.upper_pd for grade in self.grades]


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
    # Versions trained before score points and grades have none of these two.
    score_scaling: ScoreScaling | None = None
    master_scale: MasterScale | None = None
    # Versions trained before the monotonicity check have none.
    monotonicity: Monotonicity | None = None

    def artifact_checksums(self) -> dict[str, str]:
        """File name -> SHA-256 of every file the version owns besides this manifest."""
        checksums = {self.model_file: self.model_sha256, self.compiled.file: self.compiled.sha256}
        for artifact in (self.compiled.ort, self.explainer, self.report):
            if artifact is not None:
                checksums[artifact.file] = artifact.sha256
        return checksums

    def serving_files(self) -> list[str]:
        """What a service needs of the version (no pickle): the compiled model (ONNX, and
        the ORT format that serves where there is one, the ONNX then its fallback), the
        explainer and the report."""
        others = [a.file for a in (self.compiled.ort, self.explainer, self.report) if a]
        return [self.compiled.file, *others]
