"""`ai_matching` queue: fuzzy matching, the offline fallback of the AI matcher."""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz, process, utils

from app.core.celery import app as celery_app
from app.core.config import get_settings
from app.tasks.base import MatchbotTask, require, require_type


@celery_app.task(base=MatchbotTask, name="app.tasks.matching.fuzzy_match")
def fuzzy_match(
    records: list[str], candidates: list[str], threshold: float = 80.0
) -> dict[str, Any]:
    """Best candidate for each record (token-set ratio, case- and punctuation-insensitive).

    Records whose best score is below `threshold` (0-100) come back with match None.
    """
    validate_texts(records, "records")
    validate_texts(candidates, "candidates")
    require_type(threshold, (int, float), "threshold")
    require(0 <= threshold <= 100, "threshold must be between 0 and 100")
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


def validate_texts(values: Any, name: str) -> None:
    settings = get_settings()
    require_type(values, list, name)
    require(
        0 < len(values) <= settings.max_match_items,
        f"{name} must hold 1 to {settings.max_match_items} strings, got {len(values)}",
    )
    for index, value in enumerate(values):
        require_type(value, str, f"{name}[{index}]")
        require(
            len(value) <= settings.max_text_length,
            f"{name}[{index}] is longer than {settings.max_text_length} characters",
        )
