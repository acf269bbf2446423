"""Tests of the event-stream simulator: contract, determinism, labels, and the injected patterns.

Streams are generated once per (kind, n, seed) and shared by the tests that read them.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
import re
import statistics
from collections import Counter, defaultdict
from functools import cache

import msgspec
import pytest

from engine.events import (
    KINDS,
    Event,
    FuelPurchase,
    Geo,
    Login,
    Payment,
    SessionActivity,
    VehiclePosition,
    decode_event,
    decode_events,
)
from engine.simulate import (
    ATTACKER_IPS,
    MAX_FLEET,
    SCENARIOS,
    SIMULATED_KINDS,
    fleet_vehicles,
    simulate,
    write_jsonl,
)

N = 20_000
SEED = 7


@cache
def stream(kind: str, n: int = N, seed: int = SEED) -> tuple[Event, ...]:
    return tuple(simulate(kind, n, seed=seed))


def scenario(event: Event) -> str:
    return str(event.attributes["scenario"])


def km(a: Geo, b: Geo) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def hours(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 3600


def jsonl(kind: str, n: int, seed: int) -> bytes:
    out = io.BytesIO()
    assert write_jsonl(simulate(kind, n, seed=seed), out) == n
    return out.getvalue()


# --- the contract ------------------------------------------------------------------


@pytest.mark.parametrize("kind", SIMULATED_KINDS)
def test_same_seed_same_bytes_other_seed_other_bytes(kind: str) -> None:
    first = jsonl(kind, 1500, seed=3)
    assert first == jsonl(kind, 1500, seed=3)
    assert first != jsonl(kind, 1500, seed=4)


@pytest.mark.parametrize("kind", SIMULATED_KINDS)
def test_exact_count_order_unique_ids_and_schema(kind: str) -> None:
    events = stream(kind)
    assert len(events) == N
    stamps = [e.timestamp for e in events]
    assert all(a <= b for a, b in itertools.pairwise(stamps))
    assert stamps[0] >= dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert len({e.id for e in events}) == N
    mixes: dict[str, set[type]] = {"fleet": {VehiclePosition, FuelPurchase}, "ato": {Login, SessionActivity}}
    assert {type(e) for e in events} == mixes.get(kind) or {type(e) for e in events} == {KINDS[kind]}
    # Every event survives the schema's own validation (one array: much faster than one by one).
    assert tuple(decode_events(msgspec.json.encode(events))) == events
    assert decode_event(msgspec.json.encode(events[-1])) == events[-1]
    for e in events:
        assert set(e.attributes) == {"is_fraud", "scenario"}
        assert e.attributes["is_fraud"] is (scenario(e) != "legit")


def test_ids_are_stable_and_numbered_per_kind() -> None:
    fleet = stream("fleet")
    assert fleet[0].id.startswith(("pos-", "fuel-"))
    positions = [e.id for e in fleet if isinstance(e, VehiclePosition)]
    assert positions[:3] == ["pos-000000001", "pos-000000002", "pos-000000003"]
    assert stream("payment")[122].id == "pay-000000123"


@pytest.mark.parametrize("n", [0, 1, 7, 250])
def test_small_counts(n: int) -> None:
    for kind in SIMULATED_KINDS:
        assert sum(1 for _ in simulate(kind, n)) == n


def test_a_short_stream_is_a_prefix_of_a_longer_one_of_its_tier() -> None:
    short = [e.id for e in simulate("payment", 700, seed=5)]
    longer = [e.id for e in simulate("payment", 1500, seed=5)]
    assert short == longer[:700]
    assert list(simulate("payment", 700, seed=5)) == list(simulate("payment", 1500, seed=5))[:700]


def test_start_is_respected_and_naive_means_utc() -> None:
    start = dt.datetime(2025, 6, 2, 9, 30, 0, 500)
    events = list(simulate("login", 300, seed=1, start=start))
    assert events[0].timestamp >= start.replace(tzinfo=dt.UTC)
    assert events[-1].timestamp.tzinfo is not None
    assert list(simulate("login", 300, seed=1, start=start.replace(tzinfo=dt.UTC))) == events


def test_unknown_kind_and_bad_count_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown kind 'transfer'.*payment.*fleet.*ato"):
        simulate("transfer", 10)
    with pytest.raises(ValueError, match="non-negative"):
        simulate("payment", -1)


def test_write_jsonl_lines_decode_to_the_events() -> None:
    out = io.BytesIO()
    events = list(simulate("ato", 400, seed=2))
    assert write_jsonl(iter(events), out) == 400
    lines = out.getvalue().splitlines()
    assert len(lines) == 400
    assert [decode_event(line) for line in lines] == events
    assert msgspec.json.decode(lines[0])["kind"] in ("login", "session_activity")


def test_scenarios_describe_every_simulated_kind() -> None:
    assert set(SCENARIOS) == set(SIMULATED_KINDS)
    for kind, patterns in SCENARIOS.items():
        names = [name for name, _ in patterns]
        assert names and len(names) == len(set(names)), kind
        assert all(description for _, description in patterns)
        assert "legit" not in names


# --- labels ---------------------------------------------------------------------------

FRAUD_BANDS = {
    "payment": (0.015, 0.06),
    "login": (0.015, 0.06),
    "session_activity": (0.01, 0.06),
    "ato": (0.01, 0.06),
    "fuel_purchase": (0.02, 0.10),
    "vehicle_position": (0.001, 0.02),
}


@pytest.mark.parametrize("kind", list(FRAUD_BANDS))
def test_fraud_rate_is_a_few_percent(kind: str) -> None:
    events = stream(kind)
    low, high = FRAUD_BANDS[kind]
    rate = sum(e.attributes["is_fraud"] for e in events) / len(events)
    assert low <= rate <= high
    # Not all at the end: both halves of the stream hold fraud.
    half = len(events) // 2
    assert any(e.attributes["is_fraud"] for e in events[:half])
    assert any(e.attributes["is_fraud"] for e in events[half:])


def test_fleet_fraud_rate_among_fuel_purchases() -> None:
    fills = [e for e in stream("fleet") if isinstance(e, FuelPurchase)]
    assert len(fills) > 100
    rate = sum(e.attributes["is_fraud"] for e in fills) / len(fills)
    assert 0.02 <= rate <= 0.15


@pytest.mark.parametrize("kind", SIMULATED_KINDS)
def test_every_named_scenario_appears_in_twenty_thousand_events(kind: str) -> None:
    seen = Counter(scenario(e) for e in stream(kind))
    names = {name for name, _ in SCENARIOS[kind]}
    assert names <= set(seen), f"missing: {names - set(seen)}"
    assert set(seen) <= names | {"legit"}


def test_fraud_shows_up_early_in_short_streams() -> None:
    for kind in ("payment", "login", "session_activity", "ato", "fuel_purchase"):
        assert any(e.attributes["is_fraud"] for e in simulate(kind, 1000)), kind


# --- payments --------------------------------------------------------------------------


def payments() -> list[Payment]:
    return [e for e in stream("payment") if isinstance(e, Payment)]


def test_payment_fields_are_consistent() -> None:
    events = payments()
    channels = Counter(e.channel for e in events if scenario(e) == "legit")
    total = sum(channels.values())
    assert 0.5 < channels["pos"] / total < 0.8
    assert 0.15 < channels["ecom"] / total < 0.4
    assert 0.01 < channels["atm"] / total < 0.1
    for e in events:
        assert e.card_present is (e.channel != "ecom")
        assert (e.terminal_id is None) is (e.channel == "ecom")
        assert (e.ip is None) is (e.channel != "ecom")
        assert e.amount is not None and e.amount > 0
        assert e.account_age_days is not None and e.account_age_days >= 0
        # No id format tells fraud apart.
        assert e.device_id is None or re.fullmatch(r"d[0-9a-f]{10}", e.device_id)
    legit_ecom = [e for e in events if e.channel == "ecom" and scenario(e) == "legit"]
    matching = sum(e.ip_country == e.card_country for e in legit_ecom)
    assert matching / len(legit_ecom) > 0.97
    assert all((e.amount or 1.0) % 10 == 0 for e in events if e.channel == "atm" and scenario(e) == "legit")


def test_legit_amounts_follow_each_customer() -> None:
    by_user: dict[str, list[float]] = defaultdict(list)
    for e in payments():
        if scenario(e) == "legit" and e.channel == "pos" and e.user_id and e.amount:
            by_user[e.user_id].append(e.amount)
    medians = [statistics.median(v) for v in by_user.values() if len(v) >= 10]
    assert len(medians) > 100
    # Customers differ: some spend several times what others do.
    assert max(medians) > 4 * min(medians)
    assert 5 < statistics.median(medians) < 100


def test_payments_follow_the_daily_rhythm() -> None:
    per_hour = Counter(e.timestamp.hour for e in payments() if scenario(e) == "legit")
    assert per_hour[12] > 4 * per_hour[3]


def test_card_testing_bursts() -> None:
    by_card: dict[str, list[Payment]] = defaultdict(list)
    for e in payments():
        if scenario(e) == "card_testing" and e.card_id:
            by_card[e.card_id].append(e)
    assert by_card
    for card, events in by_card.items():
        tiny = [e.timestamp for e in events if e.amount is not None and e.amount <= 2.0]
        best = max(sum(1 for t in tiny if s <= t < s + dt.timedelta(minutes=10)) for s in tiny)
        assert best >= 5, card
        assert all(e.channel == "ecom" and not e.card_present for e in events)
        assert max(e.amount or 0.0 for e in events) > 200.0


def test_compromised_terminal_spans_days() -> None:
    by_terminal: dict[str, list[Payment]] = defaultdict(list)
    for e in payments():
        if scenario(e) == "compromised_terminal" and e.terminal_id:
            by_terminal[e.terminal_id].append(e)
    assert by_terminal
    end = payments()[-1].timestamp
    # Episodes still running when the stream stops are cut short; judge the finished ones.
    finished = [events for events in by_terminal.values() if hours(events[0].timestamp, end) > 5 * 24]
    assert finished
    for events in finished:
        assert len(events) >= 12
        assert len({e.card_id for e in events}) >= 3
        assert hours(events[0].timestamp, events[-1].timestamp) > 24


def test_stolen_card_spree_and_geo_mismatch() -> None:
    events = payments()
    usual: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if scenario(e) == "legit" and e.card_id and e.amount:
            usual[e.card_id].append(e.amount)
    spree = [e for e in events if scenario(e) == "stolen_card_spree"]
    assert spree
    ratios = [
        (e.amount or 0.0) / statistics.median(usual[e.card_id])
        for e in spree
        if e.card_id and len(usual[e.card_id]) >= 5
    ]
    assert ratios and statistics.median(ratios) > 3
    assert all(e.ip_country != e.card_country for e in spree)
    mismatch = [e for e in events if scenario(e) == "geo_mismatch"]
    assert mismatch
    assert all(e.ip_country != e.card_country and (e.amount or 0.0) > 500 for e in mismatch)


def test_structuring_duplicates_and_risky_merchants() -> None:
    events = payments()
    structuring = [e for e in events if scenario(e) == "structuring"]
    assert structuring and all(9000 <= (e.amount or 0.0) < 10000 for e in structuring)
    per_card = Counter(e.card_id for e in structuring)
    assert max(per_card.values()) >= 3

    seen: dict[tuple[str | None, str | None, float | None], dt.datetime] = {}
    duplicates = 0
    for e in events:
        key = (e.card_id, e.merchant_id, e.amount)
        if scenario(e) == "duplicate_payment":
            assert key in seen and e.timestamp - seen[key] <= dt.timedelta(minutes=10)
            duplicates += 1
        seen[key] = e.timestamp
    assert duplicates

    risky = [e for e in events if scenario(e) == "risky_mcc_cnp"]
    assert risky and all(
        e.mcc in {"5967", "7995", "4829", "6051", "5944"} and not e.card_present for e in risky
    )


def test_attacker_ips_only_in_blocked_ip_episodes_and_reused_across_cards() -> None:
    cards_per_ip: dict[str, set[str | None]] = defaultdict(set)
    for e in payments():
        attacker = e.ip is not None and e.ip.startswith("203.0.113.")
        assert attacker is (scenario(e) == "blocked_ip")
        if attacker and e.ip:
            assert e.ip in ATTACKER_IPS
            cards_per_ip[e.ip].add(e.card_id)
    assert max(len(cards) for cards in cards_per_ip.values()) >= 4


def test_device_rings_share_one_device_across_new_accounts() -> None:
    users_per_device: dict[str, set[str | None]] = defaultdict(set)
    first_seen: dict[str, dt.datetime] = {}
    for e in payments():
        if scenario(e) == "device_ring" and e.device_id:
            users_per_device[e.device_id].add(e.user_id)
            first_seen.setdefault(e.device_id, e.timestamp)
            assert (e.account_age_days or 0) <= 30
    end = payments()[-1].timestamp
    finished = [users for d, users in users_per_device.items() if hours(first_seen[d], end) > 4 * 24]
    assert finished and min(len(users) for users in finished) >= 5
    legit_users = Counter(len(u) for u in _legit_users_per_device().values())
    assert max(legit_users) == 1


def _legit_users_per_device() -> dict[str, set[str | None]]:
    out: dict[str, set[str | None]] = defaultdict(set)
    for e in payments():
        if scenario(e) == "legit" and e.device_id:
            out[e.device_id].add(e.user_id)
    return out


# --- logins and sessions --------------------------------------------------------------------


def test_impossible_travel_pairs_imply_more_than_900_kmh() -> None:
    last_home: dict[str, Login] = {}
    checked = 0
    for e in stream("login"):
        assert isinstance(e, Login) and e.user_id and e.geo
        if scenario(e) == "legit" and e.success:
            last_home[e.user_id] = e
        elif scenario(e) == "ato_impossible_travel":
            home = last_home[e.user_id]
            assert home.geo is not None
            elapsed = hours(home.timestamp, e.timestamp)
            assert 0 < elapsed <= 1
            assert km(home.geo, e.geo) / elapsed > 900
            assert e.success and not e.mfa_used
            checked += 1
    assert checked >= 3


def test_legit_logins_never_travel() -> None:
    homes: dict[str, Geo] = {}
    for e in stream("login"):
        if scenario(e) == "legit" and isinstance(e, Login) and e.user_id and e.geo:
            assert homes.setdefault(e.user_id, e.geo) == e.geo


def test_password_spraying_fails_on_twenty_users_in_ten_minutes() -> None:
    by_ip: dict[str, list[Login]] = defaultdict(list)
    for e in stream("login"):
        if scenario(e) == "password_spraying" and isinstance(e, Login) and e.ip:
            by_ip[e.ip].append(e)
    assert by_ip
    end = stream("login")[-1].timestamp
    for attempts in by_ip.values():
        if end - attempts[0].timestamp < dt.timedelta(minutes=10):
            continue  # cut short by the end of the stream
        failed = [e for e in attempts if not e.success]
        window = failed[-1].timestamp - failed[0].timestamp
        assert len({e.user_id for e in failed}) >= 20 and window <= dt.timedelta(minutes=10)


def test_other_login_patterns() -> None:
    events = [e for e in stream("login") if isinstance(e, Login)]
    devices: dict[str, set[str | None]] = defaultdict(set)
    new_device = 0
    for e in events:
        if e.user_id is None:
            continue
        if scenario(e) == "new_device_no_mfa":
            assert e.success and not e.mfa_used and e.device_id not in devices[e.user_id]
            new_device += 1
        if scenario(e) == "high_risk_country":
            assert e.ip_country in ("KP", "IR")
        if scenario(e) == "legit":
            assert e.ip_country not in ("KP", "IR")
        devices[e.user_id].add(e.device_id)
        assert e.device_id and re.fullmatch(r"d[0-9a-f]{10}", e.device_id)
    assert new_device
    legit = [e for e in events if scenario(e) == "legit"]
    assert 0.9 < sum(bool(e.success) for e in legit) / len(legit) < 0.99


def cv(values: list[float]) -> float:
    # statistics.pstdev is exact but slow; floats are plenty here.
    mean = sum(values) / len(values)
    return math.sqrt(sum((x - mean) ** 2 for x in values) / len(values)) / mean


def test_bots_type_like_machines_and_humans_do_not() -> None:
    bots = humans = 0
    for e in stream("session_activity"):
        assert isinstance(e, SessionActivity) and e.keystroke_intervals_ms and e.form_fill_ms is not None
        if scenario(e) == "scripted_bot":
            assert e.pointer_moves == 0 and e.form_fill_ms < 1000
            assert cv(e.keystroke_intervals_ms) < 0.05
            bots += 1
        else:
            assert (e.pointer_moves or 0) > 0 and e.form_fill_ms > 2000
            assert cv(e.keystroke_intervals_ms) > 0.08
            assert 50 < sum(e.keystroke_intervals_ms) / len(e.keystroke_intervals_ms) < 600
            humans += 1
    assert bots > 50 and humans > bots


def test_account_takers_type_unlike_the_owner() -> None:
    typing: dict[str, list[float]] = defaultdict(list)
    impostors: list[SessionActivity] = []
    for e in stream("session_activity"):
        assert isinstance(e, SessionActivity) and e.user_id and e.keystroke_intervals_ms
        if scenario(e) == "legit":
            typing[e.user_id].append(statistics.median(e.keystroke_intervals_ms))
        elif scenario(e) in ("ato_impossible_travel", "new_device_no_mfa"):
            impostors.append(e)
    far = 0
    compared = 0
    for e in impostors:
        assert e.user_id and e.keystroke_intervals_ms
        own = typing.get(e.user_id, [])
        if len(own) >= 3:
            compared += 1
            own_median = statistics.median(own)
            far += abs(statistics.median(e.keystroke_intervals_ms) - own_median) > 0.25 * own_median
    assert compared >= 5 and far / compared > 0.8


def test_ato_interleaves_logins_and_their_sessions() -> None:
    events = stream("ato")
    logins = sum(isinstance(e, Login) for e in events)
    assert 0.25 < logins / len(events) < 0.6
    takeover_users = {
        e.user_id for e in events if isinstance(e, Login) and scenario(e) == "ato_impossible_travel"
    }
    taker_sessions = {
        e.user_id for e in events if isinstance(e, SessionActivity) and scenario(e) == "ato_impossible_travel"
    }
    assert taker_sessions and taker_sessions <= takeover_users


# --- fleet ------------------------------------------------------------------------------------

VEHICLES = {v["id"]: v for v in fleet_vehicles(SEED)}


def test_fleet_reference_data() -> None:
    assert len(VEHICLES) == MAX_FLEET
    v7 = VEHICLES["v7"]
    assert {"id", "tank_liters", "fuel_type", "card_id", "driver_id"} <= set(v7)
    assert all(40 <= v["tank_liters"] <= 90 for v in VEHICLES.values())
    assert fleet_vehicles(SEED, size=10) == list(VEHICLES.values())[:10]
    assert fleet_vehicles(SEED + 1, size=10) != fleet_vehicles(SEED, size=10)
    used = {e.vehicle_id for e in fleet_events()}
    assert used <= set(VEHICLES)


def test_positions_come_every_few_minutes_while_driving() -> None:
    by_vehicle: dict[str, list[VehiclePosition]] = defaultdict(list)
    for e in stream("vehicle_position"):
        if isinstance(e, VehiclePosition) and e.vehicle_id:
            by_vehicle[e.vehicle_id].append(e)
    gaps = []
    for positions in by_vehicle.values():
        for a, b in itertools.pairwise(positions):
            if a.ignition and a.odometer_km is not None and b.odometer_km is not None:
                gaps.append(hours(a.timestamp, b.timestamp) * 60)
                assert b.odometer_km >= a.odometer_km
    assert 2.5 < statistics.median(gaps) < 8


def fleet_events() -> list[FuelPurchase | VehiclePosition]:
    return [e for e in stream("fleet") if isinstance(e, FuelPurchase | VehiclePosition)]


def test_over_capacity_fills_exceed_the_tank_and_honest_ones_do_not() -> None:
    over = 0
    for e in stream("fuel_purchase"):
        assert isinstance(e, FuelPurchase) and e.vehicle_id and e.liters is not None
        tank = VEHICLES[e.vehicle_id]["tank_liters"]
        if scenario(e) == "over_capacity":
            assert e.liters > tank
            over += 1
        else:
            assert e.liters <= tank
        assert e.amount is not None and 1.5 < e.amount / e.liters < 2.0
    assert over >= 3


def test_honest_fills_are_where_the_vehicle_is_and_far_ones_are_not() -> None:
    last: dict[str, VehiclePosition] = {}
    far = honest = 0
    for e in fleet_events():
        if isinstance(e, VehiclePosition):
            if e.vehicle_id and scenario(e) != "gps_jump":
                last[e.vehicle_id] = e
            continue
        assert e.vehicle_id and e.geo
        seen = last.get(e.vehicle_id)
        recent = seen is not None and e.timestamp - seen.timestamp <= dt.timedelta(minutes=30)
        if scenario(e) == "far_from_vehicle":
            assert seen is not None and seen.geo and recent and km(seen.geo, e.geo) > 10
            far += 1
        elif scenario(e) == "legit":
            assert seen is not None and seen.geo and recent and km(seen.geo, e.geo) < 1.0
            honest += 1
    assert far and honest > 100


def test_card_shared_night_fill_and_abnormal_consumption() -> None:
    fills = [e for e in stream("fuel_purchase") if isinstance(e, FuelPurchase)]
    vehicles_per_card: dict[str | None, list[tuple[dt.datetime, str | None]]] = defaultdict(list)
    previous: dict[str, FuelPurchase] = {}
    thirsty = 0
    for e in fills:
        assert e.vehicle_id and e.liters is not None and e.odometer_km is not None
        name = scenario(e)
        if name == "card_shared_across_vehicles":
            vehicles_per_card[e.card_id].append((e.timestamp, e.vehicle_id))
            assert e.card_id != VEHICLES[e.vehicle_id]["card_id"]
        elif name == "night_fill":
            t = e.timestamp
            assert t.weekday() >= 5 or not 6 <= t.hour < 20
            assert e.liters > 40
        elif name == "abnormal_consumption":
            before = previous[e.vehicle_id]
            assert before.odometer_km is not None
            per_100 = e.liters / max(1.0, e.odometer_km - before.odometer_km) * 100
            assert per_100 > 3 * VEHICLES[e.vehicle_id]["consumption_l_per_100km"]
            thirsty += 1
        else:
            assert e.card_id == VEHICLES[e.vehicle_id]["card_id"]
        if name in ("legit", "over_capacity", "abnormal_consumption"):
            previous[e.vehicle_id] = e
    assert thirsty
    assert vehicles_per_card
    end = fills[-1].timestamp
    for uses in vehicles_per_card.values():
        uses.sort()
        if hours(uses[0][0], end) < 24:
            continue  # cut short by the end of the stream
        assert any(
            len({v for t, v in uses if start <= t < start + dt.timedelta(hours=24)}) >= 3 for start, _ in uses
        )


@pytest.mark.parametrize("kind", ["fleet", "fuel_purchase"])
def test_odometers_never_run_backwards(kind: str) -> None:
    # Purchases staged out of time order (a shared card, a night fill) must still
    # read the odometer as it was, or consumption per kilometre turns negative.
    last: dict[str, float] = {}
    for e in stream(kind):
        assert isinstance(e, FuelPurchase | VehiclePosition)
        assert e.vehicle_id and e.odometer_km is not None
        assert e.odometer_km >= last.get(e.vehicle_id, 0.0), e
        last[e.vehicle_id] = e.odometer_km


def test_honest_consumption_is_near_the_vehicle_nominal() -> None:
    previous: dict[str, FuelPurchase] = {}
    ratios = []
    for e in stream("fuel_purchase"):
        assert isinstance(e, FuelPurchase) and e.vehicle_id and e.odometer_km is not None
        if scenario(e) != "legit":
            continue
        before = previous.get(e.vehicle_id)
        if before is not None and before.odometer_km is not None and e.liters:
            driven = e.odometer_km - before.odometer_km
            if driven > 100:
                ratios.append(e.liters / driven * 100 / VEHICLES[e.vehicle_id]["consumption_l_per_100km"])
        previous[e.vehicle_id] = e
    assert len(ratios) > 1000
    assert 0.85 < statistics.median(ratios) < 1.15


def test_gps_jumps_and_night_trips() -> None:
    last: dict[str, VehiclePosition] = {}
    jumps = night = 0
    for e in stream("vehicle_position"):
        assert isinstance(e, VehiclePosition) and e.vehicle_id and e.geo
        name = scenario(e)
        if name == "gps_jump":
            before = last[e.vehicle_id]
            assert before.geo is not None
            assert km(before.geo, e.geo) / max(hours(before.timestamp, e.timestamp), 1e-6) > 300
            jumps += 1
            continue
        if name == "private_night_trip":
            t = e.timestamp
            assert t.hour >= 21 or t.hour < 5
            night += 1
        elif name == "legit":
            assert 6 <= e.timestamp.hour < 20
        last[e.vehicle_id] = e
    assert jumps and night
