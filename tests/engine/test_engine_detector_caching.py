"""A detector call is computed at most once per event, however many rules make it."""

from __future__ import annotations

import datetime as dt
import re

from engine.engine import Engine
from engine.events import Payment
from engine.pack import load_pack

PACK = """pack cache 1.0.0
on payment

rule a
  when velocity(event.card_id, 1h) > 1
  score 10

rule b
  when event.amount > 5 and velocity(event.card_id, 1h) > 2
  score 10
  explain "{velocity(event.card_id, 1h)} payments in an hour"

rule c
  when velocity(event.card_id, 24h) > 2
  score 1

outcome
  review when score >= 20
  approve
"""


def test_the_same_call_shares_one_cached_value() -> None:
    pack = load_pack(PACK)
    code = pack.generated.code
    # two distinct calls (1h and 24h windows), whatever the number of call sites
    assert sorted(set(re.findall(r"\b(d_\d+) := _q\d+\(", code))) == ["d_0", "d_1"]
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    events = [
        Payment(id=f"p{i}", timestamp=t0 + dt.timedelta(minutes=i), card_id="c", amount=10.0)
        for i in range(3)
    ]
    last = Engine([pack]).evaluate_many(events)[-1]
    assert last.outcome == "review"
    assert [h.rule for h in last.hits] == ["a", "b", "c"]
    assert last.hits[1].message == "3 payments in an hour"
