"""The decision log: every scored customer on record, before the answer goes out."""

from service.decisions.log import (
    DecisionLog,
    DecisionLogDisabledError,
    DecisionLogUnavailableError,
    GroupCommitLog,
    NoDecisionLog,
)
from service.decisions.records import DecisionBatch
from service.decisions.store import DecisionStore, DecisionStoreError


def open_decision_log(
    target: str | None, timeout_seconds: float, retry_seconds: float, retention_days: int
) -> DecisionLog:
    """The log DECISION_LOG_URL names (`target`), or the null log when it is `none`."""
    if target is None:
        return NoDecisionLog()
    return GroupCommitLog(DecisionStore(target, timeout_seconds), retry_seconds, retention_days)


__all__ = [
    "DecisionBatch",
    "DecisionLog",
    "DecisionLogDisabledError",
    "DecisionLogUnavailableError",
    "DecisionStore",
    "DecisionStoreError",
    "GroupCommitLog",
    "NoDecisionLog",
    "open_decision_log",
]
