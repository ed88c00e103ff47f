"""What one scoring request decided: `Decided`, the answers' and the records' one source.

Without shadows or a live split it is one `Part`, the served version's `Scored` for every
customer, and the answer is exactly what it was before champions and challengers. With
shadows, every other version's `Scored` rides along for the record. With a live split the
customers are parted between two arms, each answered and recorded from its own version's
scores, and each version's scores of the other arm's customers are kept as shadows, so
both arms have both scores.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np

from model_store.scoring import Scored
from service.decisions.records import PendingShadowBatches

Arm = Literal["champion", "challenger"]
ShadowRole = Literal["shadow", "champion"]


@dataclass(frozen=True)
class Part:
    """Customers decided by one version."""

    scored: Scored
    positions: np.ndarray | None  # their places in the request; None: all, in order
    arm: Arm | None  # None without a live split


@dataclass(frozen=True)
class ShadowPart:
    """Customers scored by a version that did not decide them."""

    scored: Scored
    positions: np.ndarray | None
    role: ShadowRole  # shadow: a SHADOW_MODELS version; champion: the champion's scores
    # of the challenger's customers


@dataclass(frozen=True)
class Decided:
    champion: Scored  # the deciding version's scores of every customer (without a split)
    parts: tuple[Part, ...]
    shadows: tuple[ShadowPart, ...]
    # For one customer decided on the event loop: the shadow scores being made meanwhile
    # (service.shadows), recorded with the decision.
    pending_shadows: PendingShadowBatches | None = None

    @property
    def count(self) -> int:
        return len(self.champion)

    @classmethod
    def unsplit(
        cls,
        champion: Scored,
        shadows: list[Scored],
        arm: Arm | None = None,
        pending_shadows: PendingShadowBatches | None = None,
    ) -> "Decided":
        """Every customer decided by `champion` (in `arm`, when a live split found no
        challenger to score); `shadows`, and those `pending_shadows` will hold, recorded
        beside them."""
        return cls(
            champion,
            (Part(champion, None, arm),),
            tuple(ShadowPart(scored, None, "shadow") for scored in shadows),
            pending_shadows,
        )

    @classmethod
    def split(
        cls,
        champion: Scored,
        challenger: Scored,
        others: list[Scored],
        by_challenger: np.ndarray,
    ) -> "Decided":
        """The customers where `by_challenger` is True decided by `challenger`, the rest
        by `champion`; `others` (the remaining shadows) recorded for everyone."""
        ours, theirs = np.flatnonzero(~by_challenger), np.flatnonzero(by_challenger)
        parts, shadows = [], []
        if len(ours):
            parts.append(Part(champion.take(ours), ours, "champion"))
            shadows.append(ShadowPart(challenger.take(ours), ours, "shadow"))
        if len(theirs):
            parts.append(Part(challenger.take(theirs), theirs, "challenger"))
            shadows.append(ShadowPart(champion.take(theirs), theirs, "champion"))
        shadows.extend(ShadowPart(scored, None, "shadow") for scored in others)
        return cls(champion, tuple(parts), tuple(shadows))
