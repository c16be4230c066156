"""`ai_matching` queue: fuzzy matching, the offline fallback of the AI matcher."""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz, process, utils

from app.tasks.arguments import FuzzyMatch
from app.tasks.base import MatchbotTask, task


@task(FuzzyMatch)
def fuzzy_match(
    self: MatchbotTask, records: list[str], candidates: list[str], threshold: float
) -> dict[str, Any]:
    """Best candidate for each record (token-set ratio, case- and punctuation-insensitive).

    Records whose best score is below `threshold` (0-100) come back with match None.
    """
    matches = []
    for record in records:
        best = process.extractOne(
            record, candidates, scorer=fuzz.token_set_ratio, processor=utils.default_process
        )
        score = round(float(best[1]), 2) if best else 0.0
        matches.append(
            {
                "record": record,
                "match": best[0] if best and score >= threshold else None,
                "score": score,
            }
        )
    matched = sum(1 for m in matches if m["match"] is not None)
    return {"matches": matches, "matched": matched, "unmatched": len(matches) - matched}
