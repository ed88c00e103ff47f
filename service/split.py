"""The live split: which customers the challenger decides (CHALLENGER_SHARE).

A customer's arm follows from a SHA-256 of their subject key alone (X-Subject-ID, e.g.
the account number), so the same customer stays in one arm on every request, in every
worker and after every restart, and no table of assignments has to be kept. The share is
a cut on the hash's first 64 bits: raising it only moves customers into the
challenger's arm, never out of it.
"""

import hashlib
from collections.abc import Sequence

import numpy as np

_SPACE = 1 << 64


def challenger_rows(subject_keys: Sequence[str], share_percent: float) -> np.ndarray:
    """True for each customer the challenger decides, given their subject keys."""
    cut = int(_SPACE * share_percent / 100)
    return np.fromiter(
        (
            int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") < cut
            for key in subject_keys
        ),
        dtype=bool,
        count=len(subject_keys),
    )
