"""Request and response bodies of the HTTP API, including the one error shape."""

from datetime import datetime
from typing import Annotated, Final, Literal, NotRequired

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from model_store.drift import DriftStatus
from model_store.history import HistoryEntry
from model_store.manifest import HeldOutMetrics, ModelManifest
from schemas.features import EXAMPLE_CUSTOMER, CustomerFeatures

MAX_BATCH_SIZE: Final = 10_000

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Reason(TypedDict):
    """One principal reason for the score: a catalogue entry (GET /reasons) and its share."""

    code: Annotated[str, Field(description="Reason code, from GET /reasons.")]
    text: Annotated[str, Field(description="Wording fit for a notice to the customer.")]
    contribution: Annotated[
        float, Field(description="How much it raised the probability of default (> 0).")
    ]


class Explanation(TypedDict):
    """Where the probability came from: `base` plus every contribution equals it (1e-6)."""

    base: Annotated[float, Field(description="The model's expected probability, before any input.")]
    contributions: Annotated[
        dict[str, float],
        Field(
            description="Exact TreeSHAP contribution of each reason code in the catalogue "
            "(negative lowers the risk)."
        ),
    ]


REASONS_DESCRIPTION: Final = (
    "Only with `explain=true`: up to 4 reasons that raised the risk, largest first "
    "(fewer when fewer raised it)."
)
EXPLANATION_DESCRIPTION: Final = "Only with `explain=true`: every reason's contribution."
SCORE_DESCRIPTION: Final = (
    "Score points: more points, less risk. offset + factor * ln((1 - p) / p), rounded, "
    "with the version's `score_scaling` (GET /models/{version}; by default 600 points at "
    "odds of 50:1 and 20 points to double the odds)."
)
GRADE_DESCRIPTION: Final = (
    "Grade on the version's master scale (`master_scale` in GET /models/{version}): 1 is "
    "the lowest risk, and the PD rises with the grade. Absent for versions trained before "
    "grades."
)


class Prediction(BaseModel):
    """The model's answer for one customer."""

    probability: Probability = Field(
        description=(
            "Probability that the customer defaults on next month's payment: the forest's "
            "own, checked for calibration on held-out data (see /models/{version}/report)."
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
    score: int = Field(description=SCORE_DESCRIPTION, examples=[545])
    grade: int | None = Field(default=None, description=GRADE_DESCRIPTION, examples=[3])
    model_version: str = Field(description="Version of the model that scored this request.")
    reasons: list[Reason] | None = Field(default=None, description=REASONS_DESCRIPTION)
    explanation: Explanation | None = Field(default=None, description=EXPLANATION_DESCRIPTION)


# A subject key (X-Subject-ID, `subject_ids`): what a live split hashes to place a customer.
SUBJECT_ID_PATTERN: Final = r"^[A-Za-z0-9._:\-]{1,128}$"


class BatchRequest(BaseModel):
    """Up to 10,000 customers scored in one call; all are valid or none is scored."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"customers": [EXAMPLE_CUSTOMER]}]},
    )

    customers: list[CustomerFeatures] = Field(min_length=1, max_length=MAX_BATCH_SIZE)
    subject_ids: list[Annotated[str, Field(pattern=SUBJECT_ID_PATTERN)]] | None = Field(
        default=None,
        description="One subject key per customer, in the same order (e.g. account numbers), "
        "read only with a live split (CHALLENGER_SHARE) to keep each customer in one arm; "
        "without them, the request id and the customer's position are used. Never recorded.",
    )

    @field_validator("subject_ids")
    @classmethod
    def _one_per_customer(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        customers = info.data.get("customers")
        if value is not None and customers is not None and len(value) != len(customers):
            raise PydanticCustomError(
                "length_mismatch",
                "subject_ids must hold one key per customer: {given} for {customers}",
                {"given": len(value), "customers": len(customers)},
            )
        return value


# A typed dict rather than a model: 10,000 of them are validated and serialised by
# pydantic-core without building a Python object each (a quarter of the cost).
class ScoredCustomer(TypedDict):
    """One customer's answer inside a batch."""

    probability: Annotated[Probability, Field(description="Probability of default next month.")]
    default: Annotated[
        bool, Field(description="True when `probability` is at or above `threshold`.")
    ]
    score: Annotated[int, Field(description=SCORE_DESCRIPTION)]
    grade: NotRequired[Annotated[int, Field(description=GRADE_DESCRIPTION)]]
    reasons: NotRequired[Annotated[list[Reason], Field(description=REASONS_DESCRIPTION)]]
    explanation: NotRequired[Annotated[Explanation, Field(description=EXPLANATION_DESCRIPTION)]]
    model_version: NotRequired[
        Annotated[
            str,
            Field(
                description="Only for a customer the challenger decided (a live split, "
                "CHALLENGER_SHARE): its version, in place of the batch's."
            ),
        ]
    ]
    threshold: NotRequired[
        Annotated[
            Probability,
            Field(description="Only with `model_version`: that version's threshold."),
        ]
    ]


class BatchPrediction(BaseModel):
    """Predictions in the order the customers were sent."""

    model_version: str
    threshold: Probability
    count: int = Field(description="Number of customers scored (equals the number sent).")
    predictions: list[ScoredCustomer]


class ModelDetails(ModelManifest):
    """A manifest plus what this service does with the version."""

    serving_engine: str = Field(
        description="What scores this version in this service: onnxruntime, with its version."
    )


class ModelSummary(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    version: str
    created_at: datetime
    aliases: list[str] = Field(description="Aliases (such as `production`) pointing at it.")
    serving: bool = Field(description="True for the version that answers requests by default.")
    quick: bool
    threshold: Probability
    metrics: HeldOutMetrics = Field(description="Held-out metrics.")


class ModelList(BaseModel):
    serving_version: str | None
    models: list[ModelSummary] = Field(description="Stored versions, newest first.")


class ShadowHealth(BaseModel):
    """One SHADOW_MODELS entry in this worker: shadows never make the service unready."""

    model_config = ConfigDict(protected_namespaces=())

    ref: str = Field(description="The entry as SHADOW_MODELS names it.")
    model_version: str | None = Field(description="The version it scores with (null: none).")
    shadowing: bool = Field(description="True while it scores every customer in shadow.")
    problem: str | None = Field(
        default=None, description="Why it cannot load its current target (absent: it can)."
    )
    failures: int = Field(description="Requests it failed to score since this worker started.")
    last_failure: str | None = Field(
        default=None, description="When it last failed, and with what error (absent: never)."
    )


class Health(BaseModel):
    status: str = Field(examples=["ready"])
    model_version: str | None = None


class Readiness(Health):
    shadows: list[ShadowHealth] | None = Field(
        default=None, description="Only with SHADOW_MODELS: each shadow's state."
    )


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


# A request id the service echoes and records: short and printable, so it is safe in logs
# and headers (the middleware's rule, and the rule for naming a decision).
REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9._:\-]{1,128}$"


class OutcomeItem(BaseModel):
    """What happened to one decided customer: whether they defaulted, and when it was seen."""

    model_config = ConfigDict(extra="forbid", strict=True)

    request_id: str = Field(
        pattern=REQUEST_ID_PATTERN, description="The X-Request-ID of the decision's request."
    )
    position: int = Field(
        default=0, ge=0, lt=MAX_BATCH_SIZE, description="The customer's place in that request."
    )
    defaulted: bool = Field(description="True: the customer defaulted.")
    observed_at: AwareDatetime = Field(description="When the outcome was known (with a zone).")
    correction: bool = Field(
        default=False,
        description="True to replace an outcome already on record; the earlier one stays "
        "on record with when it was replaced. Without it, a different outcome is refused.",
    )


class OutcomesRequest(BaseModel):
    """1 to 10,000 outcomes, recorded all together or not at all."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "outcomes": [
                        {
                            "request_id": "application-2026-0001",
                            "position": 0,
                            "defaulted": True,
                            "observed_at": "2027-01-31T00:00:00Z",
                        }
                    ]
                }
            ]
        },
    )

    outcomes: list[OutcomeItem] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


class OutcomesRecorded(BaseModel):
    recorded: int = Field(description="Outcomes written: new ones and corrections.")
    unchanged: int = Field(description="Outcomes already on record exactly as sent.")


class RecordedOutcome(BaseModel):
    """An outcome as the log holds it."""

    defaulted: bool
    observed_at: datetime
    recorded_at: datetime = Field(description="When the service recorded it.")
    correction: bool = Field(description="True when it replaced an earlier outcome.")
    replaced_at: datetime | None = Field(
        description="When a correction replaced it (null for the current outcome)."
    )


Arm = Literal["champion", "challenger"]
ShadowRole = Literal["shadow", "champion"]


class ShadowScore(BaseModel):
    """How another version scored the same customer, recorded beside the decision and
    never answered: a SHADOW_MODELS version (`shadow`), or the champion for a customer the
    challenger decided (`champion`)."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    role: ShadowRole
    probability: Probability
    default: bool = Field(description="The decision that version would have made.")
    score: int | None
    grade: int | None = Field(description="Null for a version without a master scale.")
    reasons: list[str] | None = Field(description="When the request asked for reasons.")


class DecisionRecord(BaseModel):
    """One customer's decision as the decision log holds it."""

    model_config = ConfigDict(protected_namespaces=())

    id: int = Field(description="The record's number in the log (increasing).")
    request_id: str = Field(description="The X-Request-ID of the request that scored it.")
    position: int = Field(description="The customer's index in that request (0 for /predict).")
    decided_at: datetime = Field(description="When it was scored (UTC).")
    route: str = Field(examples=["/predict"], description="The operation that scored it.")
    key_id: str | None = Field(
        description="The id of the caller's API key (null when the service runs without keys)."
    )
    model_version: str
    threshold: Probability
    customer: dict[str, int | float] = Field(
        description="The 23 inputs as scored, by field name (see CustomerFeatures)."
    )
    probability: Probability = Field(description="The probability answered, bit for bit.")
    default: bool = Field(description="The decision answered.")
    score: int | None = Field(
        description="The score points answered (null for records made before score points)."
    )
    grade: int | None = Field(
        description="The grade answered (null for records made before grades, or by a "
        "version without a master scale)."
    )
    reasons: list[str] | None = Field(
        description="The reason codes answered, when the request asked for them (else null)."
    )
    outcome: RecordedOutcome | None = Field(
        default=None, description="What happened next, once POST /outcomes told it (else null)."
    )
    earlier_outcomes: list[RecordedOutcome] = Field(
        default_factory=list, description="Outcomes that corrections replaced, oldest first."
    )
    arm: Arm | None = Field(
        default=None,
        description="With a live split (CHALLENGER_SHARE): the arm whose version decided "
        "(null without a split).",
    )
    shadows: list[ShadowScore] = Field(
        default_factory=list,
        description="Every other version's score of this customer (GET /decisions/{request_id} "
        "only; empty on pages).",
    )


class DecisionList(BaseModel):
    """One page of the decision log, in record order."""

    decisions: list[DecisionRecord]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class FeatureDrift(BaseModel):
    """One input's (or the score's) population stability, with both distributions."""

    psi: float = Field(description="Population stability index, recent against reference.")
    status: DriftStatus = Field(
        description="stable below 0.1, watch from 0.1 to 0.25, act above 0.25."
    )
    kind: Literal["categories", "deciles"] = Field(
        description="categories: a bin per value in `edges`, then one for other values; "
        "deciles: bins between the cut points in `edges`."
    )
    edges: list[float]
    reference: list[float] = Field(description="Each bin's share when the model was trained.")
    recent: list[float] = Field(description="Each bin's share over the window.")


class DriftReport(BaseModel):
    """How far recent customers are from the ones the serving model was trained on."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    window: int = Field(description="Decisions the figures are computed over (the latest).")
    window_size: int = Field(description="The most the window holds (DRIFT_WINDOW).")
    inputs: dict[str, FeatureDrift]
    score: FeatureDrift


BandStatus = Literal["green", "amber", "red"]


class PerformanceBand(BaseModel):
    """One grade (or decile) of the window's decisions with outcomes, back-tested."""

    band: int = Field(description="The grade (1 = lowest risk), or the decile for a version "
                      "without a master scale.")  # fmt: skip
    count: int
    defaults: int
    observed_rate: float
    mean_probability: float
    jeffreys_p: float = Field(
        description="Beta(defaults + 1/2, count - defaults + 1/2)'s distribution function at "
        "mean_probability: small when the PD is too low for the defaults observed."
    )
    status: BandStatus = Field(
        description="red below 0.01, amber below 0.05, green otherwise (of jeffreys_p)."
    )
    jeffreys_interval: tuple[float, float] = Field(
        description="95% Jeffreys interval of observed_rate."
    )


class PerformanceFigures(BaseModel):
    """Realized figures, on the probabilities that were answered."""

    with_outcome: int
    default_rate: float
    mean_probability: float
    roc_auc: float | None = Field(description="Null unless both outcomes occur.")
    gini: float | None = Field(description="2 * roc_auc - 1.")
    ks: float | None = Field(description="max(TPR - FPR) over every threshold.")
    brier: float
    log_loss: float
    ece: float = Field(description="Expected calibration error, 10 equal-width bins.")


class MonthPerformance(PerformanceFigures):
    month: str = Field(description="YYYY-MM (UTC) the decisions were made in.")
    decisions: int


class EstimatedPerformance(BaseModel):
    """What the figures are expected to be if the probabilities are calibrated (as
    NannyML's CBPE): an estimate over every decision of the window, outcome or not."""

    estimate: Literal[True] = True
    decisions: int
    default_rate: float
    roc_auc: float


class PerformanceReport(PerformanceFigures):
    """Realized performance of one version over a window of its decisions."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    since: datetime | None
    until: datetime | None
    decisions: int
    coverage: float = Field(description="with_outcome / decisions.")
    training: HeldOutMetrics = Field(description="The version's held-out figures at training.")
    roc_auc_change: float | None = Field(description="roc_auc - training.roc_auc.")
    bands: list[PerformanceBand]
    roc_curve: list[tuple[float, float]] = Field(
        description="(false positive rate, true positive rate) points of the ROC curve, at "
        "most 201, for plotting; empty unless both outcomes occur."
    )
    by_month: list[MonthPerformance]
    estimated: EstimatedPerformance


class SwapSet(BaseModel):
    """The champion's decisions against a challenger's, customer by customer. Declined
    means predicted to default (`default` true)."""

    both_approve: int
    swap_in: int = Field(description="Declined by the champion, approved by the challenger.")
    swap_out: int = Field(description="Approved by the champion, declined by the challenger.")
    both_decline: int


class SwapDefaultRates(BaseModel):
    """The observed default rate of each cell of the swap set (null for an empty cell)."""

    both_approve: float | None
    swap_in: float | None
    swap_out: float | None
    both_decline: float | None


class VersionPerformance(PerformanceFigures):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    roc_curve: list[tuple[float, float]] = Field(
        description="(false positive rate, true positive rate), at most 201 points."
    )


class ChallengerOutcomes(BaseModel):
    """The same customers, those with an outcome: both versions measured on them."""

    customers: int = Field(description="Customers of the comparison that have an outcome.")
    default_rate: SwapDefaultRates
    champion: VersionPerformance
    challenger: VersionPerformance
    roc_auc_difference: float | None = Field(
        description="The challenger's ROC AUC minus the champion's."
    )
    delong_p_value: float | None = Field(
        description="DeLong's test that the two ROC AUCs are equal, on these customers (two-"
        "sided; null unless each outcome occurs at least twice)."
    )


class ChallengerComparison(BaseModel):
    """A champion and one other version, over the customers both scored."""

    model_config = ConfigDict(protected_namespaces=())

    champion_version: str
    challenger_version: str
    customers: int
    agreement: float = Field(description="Share of customers given the same decision.")
    swap: SwapSet
    psi: float = Field(
        description="Population stability of the challenger's probabilities against the "
        "champion's, on the champion's deciles."
    )
    psi_status: DriftStatus
    spearman: float | None = Field(
        description="Spearman's rank correlation of the two probabilities (null if either "
        "is constant)."
    )
    outcomes: ChallengerOutcomes | None = Field(
        description="Only when some of these customers have outcomes (POST /outcomes)."
    )


class ChallengerReport(BaseModel):
    since: datetime | None
    until: datetime | None
    comparisons: list[ChallengerComparison] = Field(
        description="One per (champion, other version) pair that scored the same customers, "
        "the most customers first; empty when no shadow scored anyone in the window."
    )


class PromotionRequest(BaseModel):
    """Why a version should serve (or is approved to), for the promotion history."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=1, max_length=2000, description="Recorded with the entry.")
    alias: str = Field(
        default="production", pattern=r"^[a-z][a-z0-9_-]{0,63}$", description="The alias moved."
    )


class PromotionHistory(BaseModel):
    """Every promotion, approval and rollback, oldest first, its chain checked."""

    entries: list[HistoryEntry]
    head: str | None = Field(
        description="The last entry's hash: keep a copy elsewhere to detect a rebuilt history."
    )
