"""Detection quality on the protocol of the fraud-detection handbook: rules, model, and both.

The data is a re-implementation, from its published description, of the transaction
simulator of *Reproducible Machine Learning for Credit Card Fraud Detection —
Practical Handbook* (Le Borgne, Siblini, Lebichot, Bontempi; chapter "Transaction
data simulator"); none of the book's code is used.

* 5,000 customers and 10,000 terminals at uniform random places on a 100 x 100
  grid; a customer uses the terminals within radius 5 of home.
* A customer's amounts are normal with a mean drawn uniformly in 5..100 and a
  standard deviation of half the mean (a negative draw is replaced by a uniform
  one in 0..2 x mean), rounded to cents; the number of transactions a day is
  Poisson with a mean drawn uniformly in 0..4; the time of day is normal around
  noon (standard deviation 20,000 s), draws outside the day are dropped; the
  terminal is drawn uniformly among the customer's.
* 183 days from 2018-04-01. Fraud: (1) every amount above 220 is fraud; (2) each
  day 2 terminals are compromised and all their transactions of the next 28 days
  are fraud; (3) each day 3 customers are compromised and, of their transactions
  of the next 14 days, a random third get 5 x the amount and are fraud.

The protocol is the book's: train on the 7 days from 2018-07-25, leave a 7-day
delay (labels take a week to arrive), test on the 7 days after it (2018-08-08 to
2018-08-14). From each test day the cards already known to be fraudulent are
removed: those with a fraud in the training days or in the delay days up to the
test day minus 8 days. Card precision@100 is the daily share of fraudulent cards
among the 100 highest-scored cards (a card scores its best transaction of the
day), averaged over the test days, a fraudulent card caught in one day's top 100
being left out of the later days' (``engine.models.card_precision_at_k``); AUC ROC
and average precision are over the test transactions. The table also gives the
ceiling of CP@100: the mean over test days of min(1, fraudulent cards / 100).

Vigil's side. Transactions become ``payment`` events (``card_id`` the customer,
``terminal_id`` the terminal, ``amount``, ``timestamp``). Every fraud becomes an
engine label known 7 days after the transaction (``EngineContext.set_label``), so
``entity_risk(..., delay: 7d)`` sees exactly the labels the protocol's delay allows,
for training and for testing alike. The benchmark pack (``PACK`` below) has:

* rules: amount above 220, the terminal's delayed fraud share (``entity_risk``),
  the card's amount z-score (``amount_zscore``) and the amount against the card's
  30-day average (``sum_amount`` / ``velocity``), at a few strengths each;
* ``model card_risk``: a ``HistGradientBoostingClassifier`` over detector features
  (amount, night and weekend flags, the card's transaction counts and average
  amounts over 1, 7 and 30 days, its amount z-score, the amount against its
  averages, its average before the last week and the recent averages against that,
  the terminal's transaction counts and its delayed fraud share and count over 1,
  7 and 28 days), built by ``Engine.features`` on a fresh engine over the
  time-ordered stream and fitted on the training week only;
* 30 rules on ``model("card_risk")`` (above 0.005, 0.01, ..., 0.998), 10 points
  each, so the decision score ranks by the model's probability and the rules above
  add their evidence on top.

Three rankings of the test transactions: **rules only** (the decision score with no
model set, so the model rules are null and do not fire), **model only** (the
model's probability), and **rules + model** (the decision score with the trained
model set through ``Engine.set_model``). The engine sees the events from
``--feed-from`` (default 2018-06-01: 54 days of history before training, more than
the 30-day windows need) to the end of the test period; the simulator draws the
whole 183 days, so the compromised terminals and customers are the same as in a
full run. Usage::

    .venv/bin/python benchmarks/detection_quality.py            # about 2-4 minutes
    .venv/bin/python benchmarks/detection_quality.py --seed 3 --json results.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.engine import Engine
from engine.models import Scorer, TrainedModel, fit, quality
from engine.pack import CompiledPack, load_pack

DAY = 86_400
START = dt.datetime(2018, 4, 1, tzinfo=dt.UTC)
T0 = START.timestamp()
#: the book's published best on this protocol (its chapter on baseline models)
BOOK_BEST = {"auc_roc": 0.88, "average_precision": 0.69, "card_precision_at_100": 0.30}


# --- the simulator --------------------------------------------------------------------------


@dataclass
class Transactions:
    """Time-ordered transactions: seconds since 2018-04-01, customer, terminal, amount, fraud, scenario."""

    time: np.ndarray
    customer: np.ndarray
    terminal: np.ndarray
    amount: np.ndarray
    fraud: np.ndarray
    scenario: np.ndarray

    @property
    def day(self) -> np.ndarray:
        return (self.time // DAY).astype(np.int64)


def simulate(
    seed: int = 0,
    customers: int = 5_000,
    terminals: int = 10_000,
    days: int = 183,
    radius: float = 5.0,
) -> Transactions:
    """The handbook's simulated transactions with its three fraud scenarios."""
    rng = np.random.default_rng(seed)
    cust_xy = rng.uniform(0, 100, size=(customers, 2))
    mean_amount = rng.uniform(5, 100, size=customers)
    std_amount = mean_amount / 2
    mean_per_day = rng.uniform(0, 4, size=customers)
    term_xy = rng.uniform(0, 100, size=(terminals, 2))

    # each customer's terminals within the radius, as one flat array with offsets
    reachable: list[np.ndarray] = []
    for lo in range(0, customers, 500):
        d2 = ((cust_xy[lo : lo + 500, None, :] - term_xy[None, :, :]) ** 2).sum(axis=2)
        reachable.extend(np.flatnonzero(row < radius * radius) for row in d2)
    counts = np.array([r.size for r in reachable])
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    flat = np.concatenate(reachable)

    parts: list[tuple[np.ndarray, ...]] = []
    for day in range(days):
        n = rng.poisson(mean_per_day)
        who = np.repeat(np.arange(customers), n)
        tod = rng.normal(DAY / 2, 20_000, size=who.size)
        amount = rng.normal(mean_amount[who], std_amount[who])
        negative = amount < 0
        amount[negative] = rng.uniform(0, 2 * mean_amount[who[negative]])
        pick = rng.random(who.size)
        keep = (tod > 0) & (tod < DAY) & (counts[who] > 0)
        who, tod, amount, pick = who[keep], tod[keep], amount[keep], pick[keep]
        terminal = flat[offsets[who] + (pick * counts[who]).astype(np.int64)]
        parts.append((day * DAY + tod.astype(np.int64), who, terminal, np.round(amount, 2)))
    time_ = np.concatenate([p[0] for p in parts])
    order = np.argsort(time_, kind="stable")
    time_ = time_[order]
    customer = np.concatenate([p[1] for p in parts])[order]
    terminal = np.concatenate([p[2] for p in parts])[order]
    amount = np.concatenate([p[3] for p in parts])[order]
    day_of = time_ // DAY

    scenario = np.zeros(time_.size, dtype=np.int8)
    # (1) large amounts
    scenario[amount > 220] = 1
    # (2) compromised terminals: two a day, all their transactions of the next 28 days
    for day in range(days):
        hit = rng.choice(terminals, size=2, replace=False)
        lo, hi = np.searchsorted(day_of, [day, day + 28])
        scenario[lo + np.flatnonzero(np.isin(terminal[lo:hi], hit))] = 2
    # (3) compromised customers: three a day, a third of their next 14 days' transactions at 5x
    for day in range(days):
        hit = rng.choice(customers, size=3, replace=False)
        lo, hi = np.searchsorted(day_of, [day, day + 14])
        rows = lo + np.flatnonzero(np.isin(customer[lo:hi], hit))
        chosen = rng.choice(rows, size=rows.size // 3, replace=False) if rows.size else rows
        amount[chosen] = np.round(amount[chosen] * 5, 2)
        scenario[chosen] = 3
    return Transactions(time_.astype(np.float64), customer, terminal, amount, scenario > 0, scenario)


# --- the pack -------------------------------------------------------------------------------

PACK = """pack handbook 1.0.0 "Handbook protocol: rules and a model over detector features"
on payment

let card_avg_1d = sum_amount(event.card_id, 1d) / velocity(event.card_id, 1d)
let card_avg_7d = sum_amount(event.card_id, 7d) / velocity(event.card_id, 7d)
let card_avg_30d = sum_amount(event.card_id, 30d) / velocity(event.card_id, 30d)
# the card's average before the last week: recent fraud does not inflate it
let card_base_avg = (sum_amount(event.card_id, 30d) - sum_amount(event.card_id, 7d))
  / (velocity(event.card_id, 30d) - velocity(event.card_id, 7d))
let zscore = amount_zscore(event.card_id)
let terminal_risk_1d = entity_risk(event.terminal_id, 1d, delay: 7d)
let terminal_risk_7d = entity_risk(event.terminal_id, 7d, delay: 7d)
let terminal_risk_28d = entity_risk(event.terminal_id, 28d, delay: 7d)

model card_risk
  kind classifier
  features event.amount, hour(event.timestamp) <= 6, weekday(event.timestamp) >= 5,
           velocity(event.card_id, 1d), velocity(event.card_id, 7d), velocity(event.card_id, 30d),
           card_avg_1d, card_avg_7d, card_avg_30d,
           zscore, event.amount / card_avg_7d, event.amount / card_avg_30d,
           terminal_risk_1d, terminal_risk_7d, terminal_risk_28d,
           velocity(event.terminal_id, 1d), velocity(event.terminal_id, 7d), velocity(event.terminal_id, 28d),
           card_base_avg, event.amount / card_base_avg, card_avg_7d / card_base_avg, card_avg_1d / card_base_avg,
           terminal_risk_1d * velocity(event.terminal_id, 1d),
           terminal_risk_7d * velocity(event.terminal_id, 7d),
           terminal_risk_28d * velocity(event.terminal_id, 28d)
  label fraud

rule large_amount "Above the amount no honest customer of this portfolio spends"
  severity high
  when event.amount > 220
  score 100

rule risky_terminal "A terminal with confirmed fraud among its payments a week ago and before"
  when terminal_risk_28d > 0
  score 10

rule very_risky_terminal
  when terminal_risk_28d > 0.2
  score 30

rule compromised_terminal
  severity high
  when terminal_risk_7d > 0.5
  score 40

rule amount_spike "An amount far above what the card usually spends"
  when zscore > 3
  score 20

rule amount_far_above_average
  when event.amount > 3 * card_avg_30d
  score 20

rule amount_extreme
  severity high
  when zscore > 6
  score 30

# the model's probability as a ladder of small steps: the decision score ranks by it,
# and the rules above add their evidence
rule model_005
  when model("card_risk") > 0.005
  score 10

rule model_01
  when model("card_risk") > 0.01
  score 10

rule model_02
  when model("card_risk") > 0.02
  score 10

rule model_03
  when model("card_risk") > 0.03
  score 10

rule model_05
  when model("card_risk") > 0.05
  score 10

rule model_075
  when model("card_risk") > 0.075
  score 10

rule model_1
  when model("card_risk") > 0.1
  score 10

rule model_15
  when model("card_risk") > 0.15
  score 10

rule model_2
  when model("card_risk") > 0.2
  score 10

rule model_25
  when model("card_risk") > 0.25
  score 10

rule model_3
  when model("card_risk") > 0.3
  score 10

rule model_35
  when model("card_risk") > 0.35
  score 10

rule model_4
  when model("card_risk") > 0.4
  score 10

rule model_45
  when model("card_risk") > 0.45
  score 10

rule model_5
  when model("card_risk") > 0.5
  score 10

rule model_55
  when model("card_risk") > 0.55
  score 10

rule model_6
  when model("card_risk") > 0.6
  score 10

rule model_65
  when model("card_risk") > 0.65
  score 10

rule model_7
  when model("card_risk") > 0.7
  score 10

rule model_75
  when model("card_risk") > 0.75
  score 10

rule model_8
  when model("card_risk") > 0.8
  score 10

rule model_85
  when model("card_risk") > 0.85
  score 10

rule model_9
  when model("card_risk") > 0.9
  score 10

rule model_93
  when model("card_risk") > 0.93
  score 10

rule model_95
  when model("card_risk") > 0.95
  score 10

rule model_97
  when model("card_risk") > 0.97
  score 10

rule model_98
  when model("card_risk") > 0.98
  score 10

rule model_99
  when model("card_risk") > 0.99
  score 10

rule model_995
  when model("card_risk") > 0.995
  score 10

rule model_998
  when model("card_risk") > 0.998
  score 10

outcome
  block when score >= 300
  review when score >= 200
  approve
"""


# --- the protocol ---------------------------------------------------------------------------


def day_index(date: dt.date) -> int:
    return (date - START.date()).days


def events_of(tx: Transactions, rows: np.ndarray) -> list[dict[str, Any]]:
    """Payment events (mappings of the ``payment`` schema) for the given transaction rows."""
    return [
        {
            "kind": "payment",
            "id": f"tx{i}",
            "timestamp": T0 + float(tx.time[i]),
            "card_id": f"c{tx.customer[i]}",
            "terminal_id": f"t{tx.terminal[i]}",
            "amount": float(tx.amount[i]),
        }
        for i in rows.tolist()
    ]


def fresh_engine(pack: CompiledPack, tx: Transactions, rows: np.ndarray, delay_days: int) -> Engine:
    """An engine whose context knows every fraud label, each from ``delay_days`` after its transaction."""
    engine = Engine([pack])
    for i in rows[tx.fraud[rows]].tolist():
        engine.context.set_label(f"tx{i}", True, T0 + float(tx.time[i]) + delay_days * DAY)
    return engine


def test_rows(
    tx: Transactions, rows: np.ndarray, train_start: int, train_days: int, delay: int, test_days: int
) -> np.ndarray:
    """Positions (into ``rows``) of the test transactions whose card is not yet known to be fraudulent."""
    days = tx.day[rows]
    customers = tx.customer[rows]
    fraud = tx.fraud[rows]
    keep: list[np.ndarray] = []
    for j in range(test_days):
        day = train_start + train_days + delay + j
        known_until = train_start + train_days + j - 1
        known = np.unique(customers[fraud & (days >= train_start) & (days <= known_until)])
        today = np.flatnonzero(days == day)
        keep.append(today[~np.isin(customers[today], known)])
    return np.concatenate(keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--feed-from", default="2018-06-01", help="first day the engine sees (history)")
    parser.add_argument("--train-start", default="2018-07-25")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    delay, train_days, test_days = 7, 7, 7
    started = time.perf_counter()

    tx = simulate(args.seed)
    sim_s = time.perf_counter() - started
    feed_from = day_index(dt.date.fromisoformat(args.feed_from))
    train_start = day_index(dt.date.fromisoformat(args.train_start))
    test_start = train_start + train_days + delay
    test_end = test_start + test_days
    rows = np.flatnonzero((tx.day >= feed_from) & (tx.day < test_end))
    events = events_of(tx, rows)
    print(
        f"simulated {tx.time.size:,} transactions over 183 days in {sim_s:.1f} s "
        f"({tx.fraud.mean():.2%} fraud); the engine sees {len(events):,} "
        f"from {args.feed_from} to {(START + dt.timedelta(days=test_end - 1)).date()}",
        flush=True,
    )

    pack = load_pack(PACK, "<handbook>")
    spec = pack.models["card_risk"]

    t = time.perf_counter()
    X = fresh_engine(pack, tx, rows, delay).features("card_risk", events, "payment")
    features_s = time.perf_counter() - t
    days = tx.day[rows]
    y = tx.fraud[rows].astype(int)
    train = np.flatnonzero((days >= train_start) & (days < train_start + train_days))
    t = time.perf_counter()
    estimator = fit("classifier", X[train], y[train], seed=args.seed)
    fit_s = time.perf_counter() - t
    model = TrainedModel(
        "classifier", estimator, spec.feature_names, spec.feature_hash, pack.name, pack.version
    )
    scorer = Scorer(model)
    test = test_rows(tx, rows, train_start, train_days, delay, test_days)
    print(
        f"features {X.shape} in {features_s:.1f} s; trained on {train.size:,} transactions "
        f"({y[train].sum()} fraud) in {fit_s:.1f} s; {test.size:,} test transactions "
        f"({y[test].sum()} fraud) after removing known fraudulent cards",
        flush=True,
    )

    t = time.perf_counter()
    rules_only = np.array(
        [d.score for d in fresh_engine(pack, tx, rows, delay).evaluate_many(events, "payment")]
    )
    rules_s = time.perf_counter() - t
    t = time.perf_counter()
    both_engine = fresh_engine(pack, tx, rows, delay)
    both_engine.set_model("card_risk", scorer)
    both = np.array([d.score for d in both_engine.evaluate_many(events, "payment")])
    both_s = time.perf_counter() - t
    model_only = scorer.score(X)

    cards = tx.customer[rows][test]
    times = tx.time[rows][test]
    results = {
        name: quality(scores[test], y[test], cards, times)
        for name, scores in (("rules only", rules_only), ("model only", model_only), ("rules + model", both))
    }
    test_days_of = tx.day[rows][test]
    ceiling = float(
        np.mean(
            [
                min(1.0, np.unique(cards[(test_days_of == d) & (y[test] == 1)]).size / 100)
                for d in np.unique(test_days_of)
            ]
        )
    )
    print(f"engine passes: rules only {rules_s:.1f} s, rules + model {both_s:.1f} s", flush=True)
    print()
    print(f"{'ranking':<16} {'AUC ROC':>8} {'AP':>8} {'CP@100':>8}")
    rows_out: list[tuple[str, dict[str, Any]]] = [*results.items(), ("book's best", dict(BOOK_BEST))]
    for name, m in rows_out:
        print(
            f"{name:<16} {m['auc_roc']:>8.3f} {m['average_precision']:>8.3f} {m['card_precision_at_100']:>8.3f}"
        )
    print(f"{'(CP@100 ceiling)':<16} {'':>8} {'':>8} {ceiling:>8.3f}")
    both_m = results["rules + model"]
    ok = (
        float(both_m["average_precision"] or 0) >= BOOK_BEST["average_precision"]
        and float(both_m["card_precision_at_100"] or 0) >= BOOK_BEST["card_precision_at_100"]
    )
    total = time.perf_counter() - started
    print(f"\nrules + model at or above the book's best AP and CP@100: {'yes' if ok else 'NO'}")
    print(f"total {total:.0f} s on {platform.python_implementation()} {platform.python_version()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "feed_from": args.feed_from,
                    "results": results,
                    "cp100_ceiling": ceiling,
                    "seconds": total,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
