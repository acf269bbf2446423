"""Test data: events and decisions as the engine would hand them to casework."""

from __future__ import annotations

import datetime as dt

from engine.decision import Decision, Effect, Hit, Notify, OpenCase, PackRef
from engine.events import Payment

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def payment(event_id: str, card: str = "card-1", amount: float = 120.0, at: dt.datetime = T0) -> Payment:
    return Payment(id=event_id, timestamp=at, amount=amount, currency="EUR", card_id=card, user_id="u-1")


def decision(
    event_id: str,
    outcome: str = "review",
    score: float = 62.5,
    case: OpenCase | None = None,
    notify: str | None = None,
) -> Decision:
    effects: list[Effect] = []
    if case is not None:
        effects.append(case)
    if notify is not None:
        effects.append(Notify(integration=notify, rule="big_amount"))
    hits = (
        Hit(
            rule="big_amount",
            severity="high",
            score=score,
            tags=("amount",),
            explanation=("amount 120 > 100",),
        ),
    )
    return Decision(
        event_id=event_id,
        outcome=outcome,  # type: ignore[arg-type]
        score=score,
        risk_level="high",
        hits=hits if outcome != "approve" else (),
        effects=tuple(effects),
        pack=PackRef("cards", "1.0.0"),
    )


def open_case(
    key: str = "card-1", queue: str = "cards", priority: str = "normal", severity: str = "medium"
) -> OpenCase:
    return OpenCase(queue=queue, key=key, priority=priority, rule="big_amount", severity=severity)  # type: ignore[arg-type]
