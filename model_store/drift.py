"""Population stability: how far the customers being scored have moved from the ones a
model was trained on. One binning and one PSI formula, used by training (to store the
reference distributions in the manifest) and by the service (to compare recent decisions
with them), so the two cannot disagree. numpy only.

PSI = sum over bins of (recent - reference) * ln(recent / reference), with each share
floored at PSI_FLOOR so an empty bin does not make it infinite. Credit risk reads it as:
below 0.1 stable, 0.1 to 0.25 worth watching, above 0.25 calls for action.
"""

from typing import Final, Literal

import numpy as np

from model_store.manifest import DriftBins

PSI_FLOOR: Final = 1e-4
WATCH: Final = 0.1
ACT: Final = 0.25
# An integer input with at most this many distinct values in training is binned by
# value (codes such as education or repayment status); anything else by deciles.
MAX_CATEGORIES: Final = 12

DriftStatus = Literal["stable", "watch", "act"]


def reference_bins(values: np.ndarray, integer: bool) -> DriftBins:
    """The reference distribution of one input (or the score) over training values."""
    values = np.asarray(values, dtype=np.float64)
    distinct = np.unique(values)
    if integer and len(distinct) <= MAX_CATEGORIES:
        bins = DriftBins(kind="categories", edges=distinct.tolist(), shares=[])
    else:
        cuts = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
        bins = DriftBins(kind="deciles", edges=cuts.tolist(), shares=[])
    shares = bin_shares(values, bins)
    return bins.model_copy(update={"shares": shares.tolist()})


def bin_shares(values: np.ndarray, bins: DriftBins) -> np.ndarray:
    """Each bin's share of `values`. Deciles: len(edges) + 1 bins, a value equal to a cut
    going above it. Categories: one bin per value, then one for values never seen in
    training (its reference share is 0)."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.asarray(bins.edges, dtype=np.float64)
    if bins.kind == "deciles":
        index = np.searchsorted(edges, values, side="right")
        counts = np.bincount(index, minlength=len(edges) + 1)
    else:
        position = np.searchsorted(edges, values)
        known = (position < len(edges)) & (edges[np.minimum(position, len(edges) - 1)] == values)
        index = np.where(known, position, len(edges))
        counts = np.bincount(index, minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def psi(reference: np.ndarray, recent: np.ndarray) -> float:
    expected = np.maximum(np.asarray(reference, dtype=np.float64), PSI_FLOOR)
    actual = np.maximum(np.asarray(recent, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def status(value: float) -> DriftStatus:
    return "stable" if value < WATCH else "watch" if value <= ACT else "act"
