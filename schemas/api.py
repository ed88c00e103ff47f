"""Request and response bodies of the HTTP API, including the one error shape."""

from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from schemas.features import EXAMPLE_CUSTOMER, CustomerFeatures

MAX_BATCH_SIZE: Final = 10_000

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Prediction(BaseModel):
    """The model's answer for one customer."""

    probability: Probability = Field(
        description=(
            "Probability that the customer defaults on next month's payment (calibration "
            "chosen by cross-validation and checked on held-out data: see /models/{version})."
        ),
        examples=[0.18],
    )
    default: bool = Field(
        description="True when `probability` is at or above the model's decision `threshold`.",
        examples=[False],
    )
    threshold: Probability = Field(
        description="Decision threshold saved with the model (chosen on training data only).",
        examples=[0.29],
    )
    model_version: str = Field(description="Version of the model that scored this request.")


class BatchRequest(BaseModel):
    """Up to 10,000 customers scored in one call; all are valid or none is scored."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"customers": [EXAMPLE_CUSTOMER]}]},
    )

    customers: list[CustomerFeatures] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


class ScoredCustomer(BaseModel):
    probability: Probability = Field(description="Probability of default next month.")
    default: bool = Field(description="True when `probability` is at or above `threshold`.")


class BatchPrediction(BaseModel):
    """Predictions in the order the customers were sent."""

    model_version: str
    threshold: Probability
    count: int = Field(description="Number of customers scored (equals the number sent).")
    predictions: list[ScoredCustomer]


class DataProvenance(BaseModel):
    file_name: str
    sha256: str = Field(description="SHA-256 of the training data file, as read.")
    rows: int = Field(description="Data rows in the file.")
    rows_used: int = Field(description="Rows that passed the feature contract and were used.")
    rows_rejected: int
    rejected_reasons: dict[str, int] = Field(
        description="Rejected rows counted by field and broken rule."
    )


class DecisionThreshold(BaseModel):
    value: Probability
    rule: str = Field(description="How the threshold was chosen, on training data only.")


class LibraryVersions(BaseModel):
    python: str
    scikit_learn: str
    numpy: str
    joblib: str
    pandas: str


class CompiledArtifact(BaseModel):
    """The pipeline compiled for fast scoring, checked against the joblib pipeline."""

    file: str
    sha256: str = Field(description="SHA-256 of `file`; checked on every load.")
    engine: str = Field(description="Runtime that scores it, with its version.")
    max_abs_difference: float = Field(
        description="Largest |compiled - joblib| probability over `verified_rows`."
    )
    verified_rows: int = Field(description="Rows compared before the version was saved.")


class ModelManifest(BaseModel):
    """Everything needed to know where a model version came from and how good it is."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    version: str
    created_at: datetime
    model_file: str
    model_sha256: str = Field(description="SHA-256 of `model_file`; checked on every load.")
    compiled: CompiledArtifact | None = Field(
        default=None, description="The compiled form served instead of the joblib pipeline."
    )
    data: DataProvenance
    feature_names: list[str] = Field(description="Input columns, in the order the model expects.")
    feature_schema: dict[str, Any] = Field(description="JSON schema of the input contract.")
    engineered_features: list[str]
    hyperparameters: dict[str, Any]
    calibration: dict[str, Any]
    cv_results: dict[str, Any]
    metrics: dict[str, float] = Field(description="Held-out metrics (split never used in fitting).")
    baseline: dict[str, Any] = Field(
        description="The original project's forest, trained and evaluated in the same run."
    )
    threshold: DecisionThreshold
    seed: int
    quick: bool = Field(description="True for a fast, small fit meant for tests only.")
    training_seconds: float
    libraries: LibraryVersions


class ModelDetails(ModelManifest):
    """A manifest plus what this service does with the version."""

    serving_engine: str = Field(
        description="What would score this version in this service: the compiled engine, "
        "or scikit-learn for versions saved without a compiled form."
    )


class ModelSummary(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    version: str
    created_at: datetime
    aliases: list[str] = Field(description="Aliases (such as `production`) pointing at it.")
    serving: bool = Field(description="True for the version that answers requests by default.")
    quick: bool
    threshold: Probability
    metrics: dict[str, float] = Field(description="Headline held-out metrics.")


class ModelList(BaseModel):
    serving_version: str | None
    models: list[ModelSummary] = Field(description="Stored versions, newest first.")


class Health(BaseModel):
    status: str = Field(examples=["ready"])
    model_version: str | None = None


class ReloadResult(BaseModel):
    previous_version: str | None = Field(description="What served before the reload.")
    model_version: str = Field(description="What serves now.")
    changed: bool


class FieldError(BaseModel):
    field: str = Field(
        description="Where the problem is: a field name, `customers[3].age` in a batch, or `body`.",
        examples=["age"],
    )
    message: str = Field(examples=["Input should be less than or equal to 120"])
    type: str = Field(
        description="Machine-readable rule that was broken.", examples=["less_than_equal"]
    )


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error this API returns."""

    type: str = Field(description="URI identifying the kind of problem.", examples=["about:blank"])
    title: str = Field(examples=["Request validation failed"])
    status: int = Field(examples=[422])
    detail: str
    instance: str | None = Field(default=None, description="Path of the request that failed.")
    request_id: str | None = Field(default=None, description="Same as the X-Request-ID header.")
    errors: list[FieldError] | None = Field(
        default=None, description="For validation problems: every field that broke a rule."
    )
