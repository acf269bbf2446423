"""The decision (SPEC, "The decision"): hits, verdicts, score, outcome, risk, effects, explanations.

Packs go through ``engine.pack.load_pack`` and events through ``Engine``; a property
test compares random packs with a small reference implementation of the decision rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.builtins import BUILTINS
from dsl.types import KEY, NUMBER, FunctionSig, Param
from engine.decision import Decision, Notify, OpenCase
from engine.detectors import Detector, DetectorRegistry, StateFamily
from engine.detectors.windows import Distinct, SumAmount, Velocity
from engine.engine import Engine
from engine.events import event_from_dict
from engine.pack import CompiledPack, load_pack

START = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
OUTCOME = "\noutcome\n  block  when score >= 80\n  review when score >= 40\n  approve\n"


def pack(body: str, on: str = "payment", outcome: str = OUTCOME, head: str = "") -> CompiledPack:
    return load_pack(f"pack t 1.0.0\non {on}\n{head}\n{body}\n{outcome}")


def event(kind: str = "payment", minutes: float = 0, **fields: Any) -> Any:
    ts = (START + dt.timedelta(minutes=minutes)).isoformat()
    return event_from_dict({"kind": kind, "id": fields.pop("id", f"e{minutes:g}"), "timestamp": ts, **fields})


def decide(p: CompiledPack, *events: Any, **engine_args: Any) -> Decision:
    return Engine([p], **engine_args).evaluate_many(list(events))[-1]


def hits(d: Decision) -> list[str]:
    return [h.rule for h in d.hits]


# ---------------------------------------------------------------- verdicts, score and outcome

RULES = """
rule big
  when event.amount > 1000
  score 30

rule huge
  when event.amount > 5000
  score 60

rule review_new
  when event.account_age_days < 7
  then review

rule block_country
  when event.ip_country == "KP"
  then block
  score 5

rule trusted
  when event.merchant_id == "m_payroll"
  then allow
"""


@pytest.mark.parametrize(
    ("fields", "outcome", "verdict", "score", "rules"),
    [
        ({}, "approve", None, 0, []),
        ({"amount": 2000.0}, "approve", None, 30, ["big"]),
        ({"amount": 6000.0}, "block", None, 90, ["big", "huge"]),
        # a forced review raises an approve to review ...
        ({"amount": 10.0, "account_age_days": 1}, "review", "review", 0, ["review_new"]),
        # ... and never lowers a block reached by score
        ({"amount": 6000.0, "account_age_days": 1}, "block", "review", 90, ["big", "huge", "review_new"]),
        # block beats review
        ({"account_age_days": 1, "ip_country": "KP"}, "block", "block", 5, ["review_new", "block_country"]),
        # allow beats block, whatever the score
        (
            {"amount": 6000.0, "ip_country": "KP", "merchant_id": "m_payroll"},
            "approve",
            "allow",
            95,
            ["big", "huge", "block_country", "trusted"],
        ),
        ({"merchant_id": "m_payroll"}, "approve", "allow", 0, ["trusted"]),
    ],
)
def test_verdict_score_and_outcome(
    fields: dict[str, Any], outcome: str, verdict: str | None, score: float, rules: list[str]
) -> None:
    d = decide(pack(RULES), event(**fields))
    assert (d.outcome, d.verdict, d.score, hits(d)) == (outcome, verdict, score, rules)


def test_negative_scores_add_up() -> None:
    p = pack("rule a\n  when event.amount > 1\n  score 50\n\nrule b\n  when event.amount > 2\n  score -20\n")
    d = decide(p, event(amount=5.0))
    assert (d.score, d.outcome, d.risk_level) == (30, "approve", "medium")


def test_outcome_falls_back_to_approve_when_no_line_holds() -> None:
    p = pack("rule a\n  when event.amount > 1\n  score 10\n", outcome="outcome\n  block when score >= 80\n")
    assert decide(p, event(amount=5.0)).outcome == "approve"
    assert decide(p, event()).outcome == "approve"


def test_outcome_lines_may_read_the_event() -> None:
    outcome = "outcome\n  review when score >= 10 or event.amount > 100\n  approve\n"
    p = pack('rule a\n  when event.card_id == "x"\n  score 1\n', outcome=outcome)
    assert decide(p, event(amount=500.0)).outcome == "review"  # no hit: the quiet path
    assert decide(p, event(amount=500.0, card_id="x")).outcome == "review"
    assert decide(p, event(amount=5.0, card_id="x")).outcome == "approve"
    assert decide(p, event(amount=5.0)).outcome == "approve"


@pytest.mark.parametrize(
    ("score", "level"),
    [(0, "low"), (24, "low"), (25, "medium"), (49, "medium"), (50, "high"), (79, "high"), (80, "critical")],
)
def test_default_risk_levels(score: int, level: str) -> None:
    p = pack(f"rule a\n  when event.amount > 1\n  score {score}\n", outcome="outcome\n  approve\n")
    assert decide(p, event(amount=5.0)).risk_level == level


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, "low"),
        (9, "low"),
        (10, "medium"),
        (19.5, "medium"),
        (20, "high"),
        (30, "critical"),
        (100, "critical"),
    ],
)
def test_custom_risk_thresholds(score: float, level: str) -> None:
    p = pack(
        f"rule a\n  when event.amount > 1\n  score {score}\n",
        outcome="outcome\n  approve\n",
        head="risk medium 10 high 20 critical 30\n",
    )
    d = decide(p, event(amount=5.0))
    assert (d.score, d.risk_level) == (score, level)


def test_risk_level_of_a_quiet_event_uses_the_pack_thresholds() -> None:
    p = pack("rule a\n  when event.amount > 1\n  score 5\n", head="risk medium 0 high 10 critical 20\n")
    assert decide(p, event()).risk_level == "medium"


# ---------------------------------------------------------------- shadow rules

SHADOW = """
rule live
  when event.amount > 100
  score 10

rule shadow_block
  when event.amount > 100
  then block
  score 100
  case queue "fraud"
  notify "slack"
  mode shadow

rule shadow_allow
  when event.amount > 100
  then allow
  mode shadow

rule until_march
  when event.amount > 100
  then review
  score 50
  case queue "cards" priority high
  mode shadow until 2026-03-01
"""


def test_shadow_hits_never_affect_the_decision() -> None:
    d = decide(pack(SHADOW), event(amount=500.0))
    assert hits(d) == ["live"]
    assert [h.rule for h in d.shadow_hits] == ["shadow_block", "shadow_allow", "until_march"]
    assert (d.score, d.verdict, d.outcome, d.risk_level, d.effects) == (10, None, "approve", "low", ())
    shadow = d.shadow_hits[0]
    assert (shadow.score, shadow.verdict, shadow.explanation) == (
        100,
        "block",
        ("event.amount = 500.0 > 100",),
    )


def test_only_shadow_hits() -> None:
    p = pack("rule s\n  when event.amount > 100\n  then block\n  score 100\n  mode shadow\n")
    d = decide(p, event(amount=500.0))
    assert (d.outcome, d.score, d.verdict, d.hits, [h.rule for h in d.shadow_hits]) == (
        "approve",
        0,
        None,
        (),
        ["s"],
    )


@pytest.mark.parametrize(
    ("when", "live"),
    [
        (dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=dt.UTC), False),
        (dt.datetime(2026, 3, 1, 0, 0, 0, tzinfo=dt.UTC), True),
        (dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))), False),
        (dt.datetime(2027, 1, 1, tzinfo=dt.UTC), True),
    ],
)
def test_shadow_until_a_date_goes_by_event_time(when: dt.datetime, live: bool) -> None:
    ev = event_from_dict(
        {"kind": "payment", "id": "e", "timestamp": when.isoformat(), "amount": 500.0, "card_id": "c9"}
    )
    d = decide(pack(SHADOW), ev)
    assert ("until_march" in hits(d)) is live
    assert ("until_march" in [h.rule for h in d.shadow_hits]) is not live
    if live:
        assert (d.score, d.verdict, d.outcome) == (60, "review", "review")
        assert d.effects == (OpenCase("cards", "c9", "high", "until_march", "medium"),)
    else:
        assert (d.score, d.verdict, d.outcome, d.effects) == (10, None, "approve", ())


# ---------------------------------------------------------------- effects

EFFECTS = """
rule default_key
  severity high
  when event.amount > 100
  case queue "cards"

rule explicit_key
  severity critical
  when event.amount > 1000
  case queue "merchants" key event.merchant_id priority urgent
  notify "slack"
  notify "webhook"

rule composite_key
  when event.amount > 5000
  case queue "pairs" key [event.card_id, event.merchant_id] priority low
"""


def test_effects() -> None:
    d = decide(pack(EFFECTS), event(amount=9000.0, card_id="c1", merchant_id="m1"))
    assert d.effects == (
        OpenCase("cards", "c1", "normal", "default_key", "high"),
        OpenCase("merchants", "m1", "urgent", "explicit_key", "critical"),
        Notify("slack", "explicit_key"),
        Notify("webhook", "explicit_key"),
        OpenCase("pairs", "c1|m1", "low", "composite_key", "medium"),
    )


def test_case_key_falls_back_to_the_event_id_when_null() -> None:
    d = decide(pack(EFFECTS), event(amount=500.0, id="evt-7"))
    assert d.effects == (OpenCase("cards", "evt-7", "normal", "default_key", "high"),)


@pytest.mark.parametrize(
    ("kind", "fields", "key"),
    [
        ("payment", {"card_id": "c1", "user_id": "u1"}, "c1"),
        ("fuel_purchase", {"card_id": "fc1", "vehicle_id": "v1"}, "fc1"),
        ("vehicle_position", {"vehicle_id": "v1", "driver_id": "d1"}, "v1"),
        ("login", {"user_id": "u1", "device_id": "d1"}, "u1"),
        ("session_activity", {"user_id": "u1", "session_id": "s1"}, "u1"),
    ],
)
def test_default_case_key_is_the_primary_entity(kind: str, fields: dict[str, Any], key: str) -> None:
    p = pack('rule any\n  when event.id is not null\n  case queue "q"\n', on=kind)
    assert decide(p, event(kind, **fields)).effects == (OpenCase("q", key, "normal", "any", "medium"),)


# ---------------------------------------------------------------- explanations


def test_explanation_of_a_velocity_burst() -> None:
    p = pack(
        "let burst = velocity(event.card_id, 1h)\n\nrule many\n  when burst > 10\n  then review\n  score 40\n"
    )
    events = [event(minutes=3 * i, card_id="c1", amount=25.0) for i in range(11)]
    d = decide(p, *events)
    assert d.hits[0].explanation == ("velocity(event.card_id, 1h) = 11 > 10",)
    assert decide(p, *events[:10]).hits == ()


@pytest.mark.parametrize(
    ("when", "fields", "explanation"),
    [
        ("event.amount > 500", {"amount": 501.0}, ["event.amount = 501.0 > 500"]),
        ('event.channel == "ecom"', {"channel": "ecom"}, ['event.channel = "ecom" == "ecom"']),
        (
            "event.card_country != event.ip_country and event.amount >= 1",
            {"card_country": "FR", "ip_country": "US", "amount": 1.0},
            ['event.card_country = "FR" != event.ip_country = "US"', "event.amount = 1.0 >= 1"],
        ),
        ('event.mcc in ["5967", "7995"]', {"mcc": "7995"}, ['event.mcc = "7995" in ["5967", "7995"]']),
        ("event.mcc in risky", {"mcc": "7995"}, ['event.mcc = "7995" in risky']),
        ("event.amount between 1 and 10", {"amount": 2.5}, ["event.amount = 2.5 between 1 and 10"]),
        ("event.ip is null", {}, ["event.ip = null is null"]),
        ("not event.card_present", {"card_present": False}, ["event.card_present = false"]),
        (
            "cnp",
            {"channel": "ecom", "card_present": False},
            ['event.channel = "ecom" == "ecom"', "event.card_present = false"],
        ),
        ("event.amount * 2 > 3", {"amount": 2.0}, ["event.amount * 2 = 4.0 > 3"]),
        ("event.account_age_days < 7", {"account_age_days": 3}, ["event.account_age_days = 3 < 7"]),
    ],
)
def test_explanations(when: str, fields: dict[str, Any], explanation: list[str]) -> None:
    head = 'list risky = ["7995"]\nlet cnp = event.channel == "ecom" and not event.card_present\n'
    p = pack(f"rule r\n  when {when}\n", head=head)
    d = decide(p, event(**fields))
    assert hits(d) == ["r"]
    assert list(d.hits[0].explanation) == explanation


def test_explained_values_agree_with_the_comparison() -> None:
    p = pack("rule a\n  when event.amount / 3 < 1234.54\n\nrule b\n  when event.geo.lat > 52.52\n")
    d = decide(p, event(amount=3703.6, geo={"lat": 52.520008, "lon": 13.4}))
    assert hits(d) == ["a", "b"]
    (a,), (b,) = (h.explanation for h in d.hits)
    assert float(a.split(" = ")[1].split(" < ")[0]) < 1234.54, a
    assert float(b.split(" = ")[1].split(" > ")[0]) > 52.52, b


def test_explain_template() -> None:
    p = pack(
        'rule r\n  when event.amount > 1\n  explain "{event.amount} on card {event.card_id} ({event.mcc})"\n'
    )
    d = decide(p, event(amount=12.5, card_id="c1"))
    assert d.hits[0].message == "12.5 on card c1 (null)"


def test_hit_carries_severity_tags_id_and_verdict() -> None:
    p = pack(
        'rule r\n  id "FR-0142"\n  severity critical\n  tags velocity, cnp\n  when event.amount > 1\n  then review\n  score 7\n'
    )
    (hit,) = decide(p, event(amount=5.0)).hits
    assert (hit.rule, hit.id, hit.severity, hit.tags, hit.verdict, hit.score) == (
        "r",
        "FR-0142",
        "critical",
        ("velocity", "cnp"),
        "review",
        7,
    )


def test_decision_json_shape() -> None:
    p = pack(
        'rule r\n  severity high\n  tags velocity\n  when event.amount > 1\n  then review\n  score 40\n  case queue "cards"\n'
    )
    d = decide(p, event(amount=5.0, card_id="c1", id="e-1"))
    data = msgspec.json.decode(msgspec.json.encode(d))
    assert data == {
        "event_id": "e-1",
        "outcome": "review",
        "score": 40,
        "risk_level": "medium",
        "verdict": "review",
        "hits": [
            {
                "rule": "r",
                "severity": "high",
                "score": 40,
                "tags": ["velocity"],
                "explanation": ["event.amount = 5.0 > 1"],
                "verdict": "review",
            }
        ],
        "shadow_hits": [],
        "effects": [
            {
                "type": "open_case",
                "queue": "cards",
                "key": "c1",
                "priority": "normal",
                "rule": "r",
                "severity": "high",
            }
        ],
        "pack": {"name": "t", "version": "1.0.0"},
    }


# ---------------------------------------------------------------- kinds


def test_an_event_of_a_kind_no_pack_is_on() -> None:
    p = pack("rule r\n  when event.amount > 1\n  score 50\n")
    d = Engine([p]).evaluate(event("login", user_id="u1", id="l1"))
    assert (d.event_id, d.outcome, d.score, d.risk_level, d.hits, d.effects) == (
        "l1",
        "approve",
        0,
        "low",
        (),
        (),
    )


def test_multi_kind_pack_routes_each_kind() -> None:
    body = (
        'rule big_payment\n  when event.kind == "payment" and event.amount > 100\n  score 50\n  case queue "q"\n\n'
        'rule failed_login\n  when event.kind == "login" and not event.success\n  then review\n  case queue "q"\n'
    )
    engine = Engine([pack(body, on="payment, login")])
    out = engine.evaluate_many(
        [
            event(amount=500.0, card_id="c1", id="p1"),
            event("login", success=False, user_id="u1", id="l1"),
            event("login", success=True, user_id="u1", id="l2"),
            {"kind": "login", "id": "l3", "timestamp": START.isoformat(), "success": False, "user_id": "u2"},
        ]
    )
    assert [(d.event_id, d.outcome, hits(d)) for d in out] == [
        ("p1", "review", ["big_payment"]),
        ("l1", "review", ["failed_login"]),
        ("l2", "approve", []),
        ("l3", "review", ["failed_login"]),
    ]
    assert [e.key for d in out for e in d.effects] == ["c1", "u1", "u2"]


def test_managed_lists() -> None:
    p = pack(
        "rule blocked\n  when event.ip in blocked_ips\n  then block\n",
        head='list blocked_ips = managed "ips"\n',
    )
    engine = Engine([p], lists={"ips": ["203.0.113.9"]})
    assert engine.evaluate(event(ip="203.0.113.9")).outcome == "block"
    assert engine.evaluate(event(ip="198.51.100.1")).outcome == "approve"
    engine.set_list("ips", ["198.51.100.1"])
    assert engine.evaluate(event(ip="198.51.100.1")).outcome == "block"
    assert Engine([p]).evaluate(event(ip="203.0.113.9")).outcome == "approve"  # an unset list is empty


def test_detector_state_follows_event_time() -> None:
    p = pack("rule many\n  when velocity(event.card_id, 1h) >= 3\n  score 1\n")
    engine = Engine([p])
    results = [hits(engine.evaluate(event(minutes=m, card_id="c1"))) for m in (0, 10, 20, 90, 95, 100)]
    assert results == [[], [], ["many"], [], [], ["many"]]
    other = engine.evaluate(event(minutes=101, card_id="c2"))
    assert hits(other) == []


def test_combined_decision_keeps_pack_risk_levels() -> None:
    a = load_pack(
        "pack a 1.0.0\non payment\nrisk medium 10 high 20 critical 30\n"
        "rule r\n  when event.amount > 10\n  score 35\noutcome\n  approve\n"
    )
    b = load_pack(
        "pack b 1.0.0\non payment\nrule q\n  when event.amount > 1000000\n  score 1\noutcome\n  approve\n"
    )
    ev = event(amount=50.0)
    assert Engine([a]).evaluate(ev).risk_level == "critical"
    assert Engine([a, b]).evaluate(ev).risk_level == "critical"


def test_combined_decision_of_two_packs() -> None:
    a = load_pack(
        "pack a 1.0.0\non payment\nrule r\n  when event.amount > 10\n  then review\n  score 5\noutcome\n  approve\n"
    )
    b = load_pack(
        "pack b 1.0.0\non payment\nrule q\n  when event.amount > 10\n  score 90\noutcome\n  block when score >= 80\n  approve\n"
    )
    d = Engine([a, b]).evaluate(event(amount=50.0))
    assert (d.outcome, d.verdict, sorted(hits(d))) == ("block", "review", ["q", "r"])
    assert d.pack is not None and d.pack.name == "b"


# ---------------------------------------------------------------- lets: at most once per event, only if used


def test_lets_are_evaluated_at_most_once_per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    sig, impl = BUILTINS["lower"]

    def counting(x: Any) -> Any:
        calls.append(x)
        return impl(x)

    monkeypatch.setitem(BUILTINS, "lower", (sig, counting))
    body = """
let channel = lower(event.channel)

rule a
  when channel == "ecom"
  score 10

rule b
  when channel == "ecom" and event.amount > 1
  score 10

rule c
  when event.amount > 1000 and channel == "pos"
  score 10
  explain "channel {channel}"
"""
    engine = Engine([pack(body)])
    out = engine.evaluate_many(
        [event(channel="ECOM", amount=5.0, id="x"), event(channel="POS", amount=5000.0, id="y")]
    )
    assert [hits(d) for d in out] == [["a", "b"], ["c"]]
    assert out[1].hits[0].message == "channel pos"
    assert calls == ["ECOM", "POS"]
    calls.clear()
    # only if used: no rule reaches the let when the amount is small and the first rule is gone
    quiet = body.replace(
        'when channel == "ecom"\n  score 10\n\nrule b', "when event.amount > 9999\n  score 10\n\nrule b"
    )
    quiet = quiet.replace(
        'when channel == "ecom" and event.amount > 1', 'when event.amount > 9999 and channel == "x"'
    )
    engine = Engine([pack(quiet)])
    engine.evaluate(event(channel="ECOM", amount=5.0))
    assert calls == []


class _Nothing(StateFamily):
    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        pass

    def entity_count(self) -> int:
        return 0


class Probe(Detector):
    """A detector that counts its queries."""

    sig = FunctionSig("probe", (Param("key", KEY),), NUMBER, stateful=True)
    family = _Nothing
    queries: list[Any] = []  # noqa: RUF012 - a test probe

    @classmethod
    def query(cls, state: Any, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        cls.queries.append(key)
        return 7


def test_a_detector_in_a_let_is_queried_once_per_event() -> None:
    Probe.queries = []
    registry = DetectorRegistry([Velocity, SumAmount, Distinct, Probe])
    text = (
        "pack p 1.0.0\non payment\n\nlet seen = probe(event.card_id)\n\n"
        "rule a\n  when seen > 5\n  score 1\n\n"
        "rule b\n  when seen > 6 and seen < 8\n  score 1\n\n"
        "rule c\n  when event.amount > 100 and seen == 7\n  score 1\n\n"
        "outcome\n  approve\n"
    )
    engine = Engine([load_pack(text, registry=registry)])
    out = engine.evaluate_many([event(card_id="c1", id="1"), event(card_id="c2", amount=500.0, id="2")])
    assert [hits(d) for d in out] == [["a", "b"], ["a", "b", "c"]]
    assert Probe.queries == ["c1", "c2"]


def _probe_engine(rules: str) -> Engine:
    Probe.queries = []
    registry = DetectorRegistry([Velocity, SumAmount, Distinct, Probe])
    return Engine(
        [load_pack(f"pack p 1.0.0\non payment\n\n{rules}\noutcome\n  approve\n", registry=registry)]
    )


def test_and_or_short_circuit_left_to_right() -> None:
    engine = _probe_engine(
        "rule a\n  when event.amount > 100 and probe(event.card_id) > 5\n\n"
        "rule b\n  when not (event.amount > 100 or probe(event.device_id) > 5)\n"
    )
    assert hits(engine.evaluate(event(card_id="c1", device_id="d1", amount=5.0))) == []
    assert Probe.queries == ["d1"]  # 'and' stopped at its false left side: no query for c1
    assert hits(engine.evaluate(event(card_id="c2", device_id="d2", amount=500.0))) == ["a"]
    assert Probe.queries == ["d1", "c2"]  # 'or' stopped at its true left side: no query for d2


def test_explanations_do_not_evaluate_skipped_operands() -> None:
    engine = _probe_engine("rule b\n  when event.amount < 100 or probe(event.device_id) > 5\n")
    assert hits(engine.evaluate(event(device_id="d1", amount=5.0))) == ["b"]
    assert Probe.queries == []


# ---------------------------------------------------------------- property: the decision rules

_RANK = {"approve": 0, "review": 1, "block": 2}
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}

_rule = st.fixed_dictionaries(
    {
        "score": st.one_of(st.just(0), st.integers(-50, 100)),
        "verdict": st.sampled_from([None, None, "allow", "review", "block"]),
        "shadow": st.sampled_from([False, False, False, True]),
    }
)
_line = st.tuples(st.sampled_from(list(_RANK)), st.sampled_from(list(_OPS)), st.integers(-60, 160))
_risk = st.one_of(
    st.none(),
    st.lists(st.integers(0, 150), min_size=3, max_size=3, unique=True).map(sorted),
)


def _reference(
    rules: list[dict[str, Any]],
    fired: list[bool],
    lines: list[tuple[str, str, int]],
    default: str | None,
    risk: list[int] | None,
) -> dict[str, Any]:
    """SPEC's "The decision", written out plainly."""
    live = [i for i, r in enumerate(rules) if fired[i] and not r["shadow"]]
    shadow = [i for i, r in enumerate(rules) if fired[i] and r["shadow"]]
    score = sum(rules[i]["score"] for i in live)
    verdicts = {rules[i]["verdict"] for i in live}
    if "allow" in verdicts:
        verdict: str | None = "allow"
    elif "block" in verdicts:
        verdict = "block"
    elif "review" in verdicts:
        verdict = "review"
    else:
        verdict = None
    if verdict == "allow":
        outcome = "approve"
    else:
        outcome = next((o for o, op, t in lines if _OPS[op](score, t)), default or "approve")
        floor = {"review": "review", "block": "block"}.get(verdict or "", "approve")
        outcome = max(outcome, floor, key=_RANK.__getitem__)
    medium, high, critical = risk or (25, 50, 80)
    level = (
        "critical"
        if score >= critical
        else "high"
        if score >= high
        else "medium"
        if score >= medium
        else "low"
    )
    return {
        "outcome": outcome,
        "verdict": verdict,
        "score": score,
        "risk_level": level,
        "hits": [f"r{i}" for i in live],
        "shadow_hits": [f"r{i}" for i in shadow],
        "effects": [f"n{i}" for i in live],
    }


def _pack_text(
    rules: list[dict[str, Any]],
    lines: list[tuple[str, str, int]],
    default: str | None,
    risk: list[int] | None,
) -> str:
    out = ["pack prop 1.0.0", "on payment", ""]
    if risk:
        out.append(f"risk medium {risk[0]} high {risk[1]} critical {risk[2]}")
    for i, r in enumerate(rules):
        out += [
            f"rule r{i}",
            f"  when event.attributes.r{i} == true",
            f"  score {r['score']}",
            f'  notify "n{i}"',
        ]
        if r["verdict"]:
            out.append(f"  then {r['verdict']}")
        if r["shadow"]:
            out.append("  mode shadow")
        out.append("")
    out.append("outcome")
    out += [f"  {o} when score {op} {t}" for o, op, t in lines]
    if default or not lines:
        out.append(f"  {default or 'approve'}")
    return "\n".join(out) + "\n"


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(_rule, min_size=1, max_size=5),
    lines=st.lists(_line, max_size=3),
    default=st.sampled_from([None, "approve", "review", "block"]),
    risk=_risk,
)
def test_decisions_follow_the_spec(
    rules: list[dict[str, Any]],
    lines: list[tuple[str, str, int]],
    default: str | None,
    risk: list[int] | None,
) -> None:
    p = load_pack(_pack_text(rules, lines, default, risk))
    n = len(rules)
    subsets = [[bool(mask >> i & 1) for i in range(n)] for mask in range(2**n)]
    events = [
        {
            "kind": "payment",
            "id": f"e{k}",
            "timestamp": START.isoformat(),
            "attributes": {f"r{i}": fired[i] for i in range(n)},
        }
        for k, fired in enumerate(subsets)
    ]
    decisions = Engine([p]).evaluate_many([event_from_dict(e) for e in events])
    for fired, d in zip(subsets, decisions, strict=True):
        got = {
            "outcome": d.outcome,
            "verdict": d.verdict,
            "score": d.score,
            "risk_level": d.risk_level,
            "hits": hits(d),
            "shadow_hits": [h.rule for h in d.shadow_hits],
            "effects": [e.integration for e in d.effects if isinstance(e, Notify)],
        }
        assert got == _reference(rules, fired, lines, default, risk), fired
