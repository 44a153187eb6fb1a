"""How a scenario's numbers are written in messages, for every layer above it."""

from __future__ import annotations

__all__ = ["percent", "count_of", "level_label"]


def percent(share: float) -> str:
    """A share as a percentage with as few decimals as it needs (0.9 -> 90%, 0.999 -> 99.9%, never 100% for
    a share below 1)."""
    for decimals in range(3):
        text = f"{share:.{decimals}%}"
        if abs(float(text.rstrip("%")) / 100 - share) < 1e-12:
            return text
    return f"{share:.3%}"


def count_of(n: int, singular: str, plural: str) -> str:
    """``n`` and its noun in the right number: 1 community, 2 communities, 0 street offices."""
    return f"{n:,} {singular if n == 1 else plural}"


def level_label(probability: float | None) -> str:
    """A hold probability as reports write it ("90%", "97.5%"; None: "the mean"). Levels are stated to a
    hundredth of a point (``workflows.robust.check_level``), so two levels never share a label."""
    return "the mean" if probability is None else percent(probability)
