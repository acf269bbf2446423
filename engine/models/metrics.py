"""Detection-quality metrics: AUC ROC, average precision and card precision@k.

AUC ROC and average precision come from ``sklearn.metrics``. Card precision@k
follows the fraud-detection handbook of Le Borgne et al.: for each day, a card's
score is the highest score of its transactions that day and the card is fraudulent
when any of them is; the k highest-scored cards of the day are what investigators
would check, and the metric is the share of them that are truly fraudulent,
averaged over the days. As in the book, a fraudulent card found in a day's top k
is blocked: it is left out of the later days' rankings. A day's ceiling is
``min(1, fraud cards / k)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

DAY_SECONDS = 86_400.0


def card_precision_at_k(
    scores: np.ndarray,
    y: np.ndarray,
    cards: Sequence[Any] | np.ndarray,
    days: np.ndarray,
    k: int = 100,
    remove_detected: bool = True,
) -> float | None:
    """Mean over days of the share of fraudulent cards among the day's ``k`` top-scored cards.

    ``days`` is any per-transaction day identifier (for instance ``times // 86400``).
    With ``remove_detected``, fraudulent cards caught in an earlier day's top ``k``
    are not ranked again. Ties between cards are broken by card value (stable sort
    of the sorted unique cards), so the result does not depend on chance. ``None``
    without transactions.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    card_arr = np.asarray(cards)
    day_arr = np.asarray(days)
    if scores.size == 0:
        return None
    per_day: list[float] = []
    detected: set[Any] = set()
    for day in np.unique(day_arr):
        mask = day_arr == day
        if detected:
            mask &= ~np.isin(card_arr, list(detected))
        codes, index = np.unique(card_arr[mask], return_inverse=True)
        best = np.full(codes.size, -np.inf)
        np.maximum.at(best, index, np.nan_to_num(scores[mask], nan=-np.inf))
        fraud = np.zeros(codes.size, dtype=bool)
        np.logical_or.at(fraud, index, y[mask])
        top = np.argsort(-best, kind="stable")[:k]
        per_day.append(float(fraud[top].sum()) / k)
        if remove_detected:
            detected.update(codes[top][fraud[top]].tolist())
    return float(np.mean(per_day))


def quality(
    scores: np.ndarray,
    y: np.ndarray,
    cards: Sequence[Any] | np.ndarray | None = None,
    times: np.ndarray | None = None,
    k: int = 100,
) -> dict[str, float | int | None]:
    """AUC ROC, average precision and (with cards and times) card precision@k, as a JSON-able dict.

    AUC and AP are ``None`` when the labels hold only one class; NaN scores rank lowest.
    """
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-1.0)
    y = np.asarray(y).astype(int)
    both = 0 < int(y.sum()) < y.size
    out: dict[str, float | int | None] = {
        "n": int(y.size),
        "fraud": int(y.sum()),
        "auc_roc": float(roc_auc_score(y, scores)) if both else None,
        "average_precision": float(average_precision_score(y, scores)) if both else None,
    }
    if cards is not None and times is not None:
        days = np.floor(np.asarray(times, dtype=np.float64) / DAY_SECONDS)
        out[f"card_precision_at_{k}"] = card_precision_at_k(scores, y, cards, days, k)
    return out
