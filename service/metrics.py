"""Prometheus metrics: what the service counts and measures, and the /metrics answer.

With several uvicorn workers each is its own process, so the figures are kept in
prometheus-client's multiprocess mode: `python -m service` gives every worker one
PROMETHEUS_MULTIPROC_DIR, emptied at start, and /metrics adds up all workers' files. A
single in-process app (tests, one worker started another way) uses the default registry.
"""

import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from model_store.scoring import Scored

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "credit_default_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "credit_default_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template.",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge(
    "credit_default_http_requests_in_flight",
    "Requests being handled now, all workers together.",
    multiprocess_mode="livesum",
)
CUSTOMERS = Counter(
    "credit_default_customers_scored_total",
    "Customers scored (and recorded), by model version and decision.",
    ["model_version", "decision"],
)
PROBABILITY = Histogram(
    "credit_default_probability",
    "Probabilities of default answered.",
    buckets=tuple(round(0.05 * step, 2) for step in range(1, 21)),
)
MODEL_LOADS = Counter(
    "credit_default_model_loads_total",
    "Model versions loaded, and refused at load (failed checks), by outcome.",
    ["outcome"],
)
LOG_WRITE = Histogram(
    "credit_default_decision_log_write_seconds",
    "Time to commit one group of decisions to the decision log.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LOG_FAILURES = Counter(
    "credit_default_decision_log_write_failures_total",
    "Groups of decisions the decision log could not commit (each answered 503).",
)
PSI = Gauge(
    "credit_default_psi",
    'Population stability index of each input and of the score (feature="score"), '
    "recent decisions against the serving model's training reference.",
    ["feature"],
    multiprocess_mode="mostrecent",
)

REALIZED_AUC = Gauge(
    "credit_default_realized_roc_auc",
    "ROC AUC of a version's decisions that have outcomes, as last measured by "
    "GET /monitoring/performance.",
    ["model_version"],
    multiprocess_mode="mostrecent",
)
COVERAGE = Gauge(
    "credit_default_outcome_coverage",
    "Share of a version's decisions in the last measured window that have an outcome.",
    ["model_version"],
    multiprocess_mode="mostrecent",
)
BAND_STATUS = Gauge(
    "credit_default_band_status",
    "Back-test status of each grade (0 green, 1 amber, 2 red: the Jeffreys test).",
    ["model_version", "band"],
    multiprocess_mode="mostrecent",
)

SHADOW_CUSTOMERS = Counter(
    "credit_default_shadow_customers_total",
    "Customers scored in shadow (recorded, never answered), by SHADOW_MODELS entry.",
    ["shadow"],
)
SHADOW_FAILURES = Counter(
    "credit_default_shadow_failures_total",
    "Shadow versions that could not load (stage=load) or failed to score a request "
    "(stage=score), by SHADOW_MODELS entry; no answer depends on them.",
    ["shadow", "stage"],
)


def observe_scored(scored: Scored) -> None:
    """Count a request's customers by decision, and their probabilities."""
    for probability in scored.probabilities.tolist():
        PROBABILITY.observe(probability)
    defaults = scored.default_count
    if defaults:
        CUSTOMERS.labels(scored.version, "default").inc(defaults)
    if len(scored) - defaults:
        CUSTOMERS.labels(scored.version, "no_default").inc(len(scored) - defaults)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics (or this process's alone)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Drop a stopped worker's live gauges (in-flight requests) from the sum."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
