"""Logins and session activity: account holders, and the people and bots that attack them.

Users log in from home (one city-level geolocation, one or two addresses and
devices), most with MFA enrolled, a few times a day; each successful login opens
one to three sessions whose keystroke cadence follows the user's own typing
profile. Fraud arrives as episodes: account takeover with impossible travel,
password spraying, new devices without MFA, logins from sanctioned countries
and credential-stuffing bots running scripted sessions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

from engine.events import Geo, Login, SessionActivity
from engine.simulate._core import (
    DATACENTRE_CITIES,
    DAY_MS,
    FOREIGN_CITIES,
    HOUR_MS,
    LEGIT,
    MINUTE_MS,
    SANCTIONED_CITIES,
    SECOND_MS,
    City,
    Draft,
    EpisodeClock,
    Sink,
    child_rng,
    city_geo,
    cumulative,
    datacentre_ip,
    device_id,
    haversine_km,
    hour_of_day,
    ip_in,
    jitter,
    normalised,
    poisson,
    run_blocks,
    tier,
    weekday,
    weighted_cities,
)

LOGIN_SCENARIOS: list[tuple[str, str]] = [
    (
        "ato_impossible_travel",
        "a successful login thousands of km away minutes after the user's login at home",
    ),
    ("password_spraying", "one address failing on 22-30 different users within ten minutes"),
    ("new_device_no_mfa", "stolen credentials used from a new device, without MFA, through a local proxy"),
    ("high_risk_country", "login attempts from North Korea or Iran"),
    ("scripted_bot", "a credential-stuffing bot from a data centre that logs in and runs scripted sessions"),
]
SESSION_SCENARIOS: list[tuple[str, str]] = [
    ("scripted_bot", "near-constant keystroke intervals, no pointer moves, forms filled in under a second"),
    ("ato_impossible_travel", "the account taker's session: human, but typing unlike the account's owner"),
    ("new_device_no_mfa", "the session behind a new-device login without MFA: someone else's typing"),
]

# Logins per user per hour of the day (the share of the day), by habit.
_HOURS: tuple[list[float], ...] = (
    normalised([1, 0.5, 0.3, 0.2, 0.3, 0.8, 2, 5, 8, 8, 7, 6, 7, 6, 6, 6, 6, 6, 6, 6, 5, 4, 3, 2]),
    normalised([3, 2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 3, 4, 5, 4, 4, 4, 5, 7, 9, 10, 10, 9, 7, 5]),
)
_WEEKDAY = (1.05, 1.05, 1.0, 1.0, 1.0, 0.95, 0.95)
_DAILY_LOGINS = 1.3
#: long-run share of fraud among the events of the stream's kind(s)
_FRAUD_SHARE = 0.03

# Mean (logins, sessions) per episode, to turn the fraud share into an episode rate.
_EVENTS_PER_EPISODE: dict[str, tuple[float, float]] = {
    "ato_impossible_travel": (1.0, 2.0),
    "password_spraying": (26.0, 0.0),
    "new_device_no_mfa": (1.0, 1.5),
    "high_risk_country": (2.5, 0.4),
    "scripted_bot": (6.5, 8.0),
}
_BAGS: dict[str, list[str]] = {
    "login": [
        "ato_impossible_travel",
        "ato_impossible_travel",
        "password_spraying",
        "new_device_no_mfa",
        "new_device_no_mfa",
        "high_risk_country",
        "high_risk_country",
        "scripted_bot",
    ],
    "session_activity": [
        "ato_impossible_travel",
        "ato_impossible_travel",
        "new_device_no_mfa",
        "new_device_no_mfa",
        "scripted_bot",
        "scripted_bot",
        "scripted_bot",
    ],
}
_BAGS["ato"] = _BAGS["login"] + ["scripted_bot", "scripted_bot"]


class User:
    __slots__ = (
        "cadence",
        "city",
        "devices",
        "geo",
        "ip",
        "mfa",
        "mobile_ip",
        "typing",
        "typing_spread",
        "user_id",
    )

    def __init__(self, rng: random.Random, index: int, city: City) -> None:
        self.user_id = f"u{index:07d}"
        self.city = city
        # City-level geolocation of the user's addresses: the same point from home
        # and from the phone, so honest logins never look like travel.
        self.geo = jitter(rng, city.lat, city.lon, 8.0)
        self.ip = ip_in(rng, city.country)
        self.mobile_ip = ip_in(rng, city.country)
        self.devices = [device_id(rng) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
        self.mfa = rng.random() < 0.65
        self.typing = rng.uniform(110.0, 240.0)
        self.typing_spread = rng.uniform(0.35, 0.6)
        self.cadence: list[float] = []


class AccountWorld:
    """Users, their habits and the episode clock of one login/session stream."""

    def __init__(self, seed: int, n: int, start_ms: int, kind: str) -> None:
        self.start_ms = start_ms
        per_user = {"login": 40, "session_activity": 50, "ato": 90}[kind]
        size = tier(n, per_user, 32, 32768)
        rng = child_rng(seed, f"accounts-population-{size}")
        self.rng = child_rng(seed, f"accounts-stream-{kind}-{size}")
        self.users = [User(rng, i + 1, city) for i, city in enumerate(weighted_cities(rng, size))]
        self.no_mfa = [u for u in self.users if not u.mfa] or self.users
        self.groups: list[tuple[list[User], list[float], float]] = []
        habits: list[list[tuple[User, float]]] = [[] for _ in _HOURS]
        for u in self.users:
            habits[rng.randrange(len(_HOURS))].append((u, rng.lognormvariate(0.0, 0.5)))
        for members in habits:
            weights = [w for _, w in members]
            self.groups.append(([u for u, _ in members], cumulative(weights), sum(weights)))
        total = sum(g[2] for g in self.groups)
        self.scale = _DAILY_LOGINS * size / total
        self.sessions = 0
        # Only what the stream shows is built: session details are most of the cost.
        self.want_logins = kind != "session_activity"
        self.want_sessions = kind != "login"

        bag = _BAGS[kind]
        # What counts towards the fraud share: logins, sessions or both.
        count_logins, count_sessions = float(self.want_logins), float(self.want_sessions)
        # An honest visit is 1.05 logins (typos) and 1.7 sessions on average.
        legit = _DAILY_LOGINS * size * (1.05 * count_logins + 1.7 * count_sessions)
        per_episode = sum(
            _EVENTS_PER_EPISODE[name][0] * count_logins + _EVENTS_PER_EPISODE[name][1] * count_sessions
            for name in bag
        ) / len(bag)
        self.clock = EpisodeClock(self.rng, bag, DAY_MS / (legit * _FRAUD_SHARE / per_episode), start_ms)

    def stream(self) -> Iterator[Draft]:
        return run_blocks(self.start_ms, HOUR_MS, self.fill)

    def fill(self, sink: Sink, lo: int, hi: int) -> None:
        rng = self.rng
        hour = hour_of_day(lo)
        scale = self.scale * _WEEKDAY[weekday(lo)] * (hi - lo) / HOUR_MS
        span = hi - lo
        for (members, cum, activity), hours in zip(self.groups, _HOURS, strict=True):
            count = poisson(rng, activity * scale * hours[hour])
            if count and members:
                for u in rng.choices(members, cum_weights=cum, k=count):
                    self.legit(sink, u, lo + rng.randrange(span))
        for ts, scenario in self.clock.due(hi):
            _EPISODES[scenario](self, sink, ts)

    # --- honest behaviour ----------------------------------------------------

    def legit(self, sink: Sink, u: User, ts: int) -> int:
        """An honest login (sometimes after a typo) and its sessions; returns the login's time."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.01:
            device = device_id(rng)
            u.devices.append(device)
            new = True
        else:
            device = u.devices[0] if roll < 0.75 or len(u.devices) == 1 else rng.choice(u.devices)
            new = False
        ip = u.ip if rng.random() < 0.7 else u.mobile_ip
        mfa = u.mfa and (new or rng.random() < 0.3)
        if rng.random() < 0.05:
            self.login(sink, ts, u.user_id, ip, u.city.country, device, False, False, u.geo, LEGIT)
            ts += rng.randint(6, 60) * SECOND_MS
        self.login(sink, ts, u.user_id, ip, u.city.country, device, True, mfa, u.geo, LEGIT)
        t = ts
        for i in range(rng.choice((1, 1, 1, 1, 1, 2, 2, 2, 3, 3))):
            t += rng.randint(2, 20) * SECOND_MS if i == 0 else rng.randint(60, 1500) * SECOND_MS
            if self.want_sessions:
                if not u.cadence:
                    u.cadence = self.cadence(u.typing, u.typing_spread)
                sink.add(t, SessionActivity, self.human(u.user_id, device, u.cadence))
        return ts

    def login(
        self,
        sink: Sink,
        ts: int,
        user_id: str,
        ip: str,
        country: str,
        device: str,
        success: bool,
        mfa: bool,
        geo: Geo,
        scenario: str,
    ) -> None:
        if self.want_logins:
            fields = {
                "user_id": user_id,
                "ip": ip,
                "ip_country": country,
                "device_id": device,
                "success": success,
                "mfa_used": mfa,
                "geo": geo,
            }
            sink.add(ts, Login, fields, scenario)

    def session_id(self) -> str:
        self.sessions += 1
        return f"s{self.sessions:09d}"

    def cadence(self, typing: float, spread: float) -> list[float]:
        """A person's keystroke intervals (ms): log-normal around ``typing``, widely spread.

        A session types a window of this cycle of 96 intervals (the list holds it
        twice so a window never wraps): slicing is far cheaper than fresh draws
        per keystroke, and every session keeps its owner's rhythm.
        """
        gauss = self.rng.gauss
        exp = math.exp
        cycle = [round(min(1500.0, max(35.0, typing * exp(gauss(0.0, spread)))), 1) for _ in range(96)]
        return cycle + cycle

    def human(self, user_id: str, device: str, cadence: list[float]) -> dict[str, Any]:
        rng = self.rng
        start = rng.randrange(96)
        intervals = cadence[start : start + rng.randint(12, 45)]
        return {
            "user_id": user_id,
            "session_id": self.session_id(),
            "device_id": device,
            "keystroke_intervals_ms": intervals,
            "pointer_moves": rng.randint(12, 350),
            "form_fill_ms": round(sum(intervals) + rng.uniform(2000.0, 30000.0), 1),
            "pages": rng.randint(1, 14),
        }

    def bot(self, user_id: str, device: str, cadence: float) -> dict[str, Any]:
        rng = self.rng
        intervals = [round(cadence * (1.0 + rng.gauss(0.0, 0.015)), 1) for _ in range(rng.randint(15, 45))]
        return {
            "user_id": user_id,
            "session_id": self.session_id(),
            "device_id": device,
            "keystroke_intervals_ms": intervals,
            "pointer_moves": 0,
            "form_fill_ms": round(rng.uniform(150.0, 950.0), 1),
            "pages": rng.randint(2, 40),
        }

    def impostor(self, sink: Sink, ts: int, u: User, device: str, scenario: str, sessions: int) -> None:
        """Sessions of a human who is not ``u``: a typing rhythm well away from the owner's."""
        rng = self.rng
        typing = rng.uniform(240.0, 320.0) if u.typing < 175.0 else rng.uniform(70.0, 100.0)
        cadence = self.cadence(typing, rng.uniform(0.3, 0.5)) if self.want_sessions else []
        for _ in range(sessions):
            ts += rng.randint(5, 240) * SECOND_MS
            if self.want_sessions:
                fields = self.human(u.user_id, device, cadence)
                sink.add(ts, SessionActivity, fields, scenario)


# --- fraud episodes -----------------------------------------------------------


def _ato_impossible_travel(w: AccountWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    u = rng.choice(w.users)
    # The owner's own login at home comes first; it is honest and labelled so.
    home = w.legit(sink, u, ts)
    gap_ms = rng.randint(3, 40) * MINUTE_MS
    while True:
        city = rng.choice(FOREIGN_CITIES)
        geo = city_geo(rng, city, 10.0)
        # 1,500 km/h at least, far above the 900 km/h of an airliner.
        if haversine_km(u.geo, geo) / (gap_ms / HOUR_MS) > 1500.0:
            break
    device = device_id(rng)
    t = home + gap_ms
    w.login(sink, t, u.user_id, ip_in(rng, city.country), city.country, device, True, False, geo, _ATO)
    w.impostor(sink, t, u, device, _ATO, rng.randint(1, 3))


def _password_spraying(w: AccountWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    city = rng.choice(FOREIGN_CITIES + DATACENTRE_CITIES)
    ip, geo = ip_in(rng, city.country), city_geo(rng, city, 10.0)
    device = device_id(rng)
    victims = rng.sample(w.users, min(len(w.users), rng.randint(22, 30)))
    # At most 15 s apart: 30 attempts fit well inside the detector's 10-minute window.
    for i, u in enumerate(victims):
        success = i == len(victims) - 1 and not u.mfa and rng.random() < 0.3
        w.login(sink, ts, u.user_id, ip, city.country, device, success, False, geo, "password_spraying")
        ts += rng.randint(4, 15) * SECOND_MS


def _new_device_no_mfa(w: AccountWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    u = rng.choice(w.no_mfa)
    device = device_id(rng)
    # A residential proxy in the owner's own city: nothing but the device gives it away.
    ip = ip_in(rng, u.city.country)
    scenario = "new_device_no_mfa"
    w.login(sink, ts, u.user_id, ip, u.city.country, device, True, False, u.geo, scenario)
    w.impostor(sink, ts, u, device, scenario, rng.randint(1, 2))


def _high_risk_country(w: AccountWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    city = rng.choice(SANCTIONED_CITIES)
    ip, geo = ip_in(rng, city.country), city_geo(rng, city, 5.0)
    u = rng.choice(w.users)
    device = device_id(rng)
    attempts = rng.randint(1, 4)
    for i in range(attempts):
        success = i == attempts - 1 and rng.random() < 0.4
        w.login(sink, ts, u.user_id, ip, city.country, device, success, False, geo, "high_risk_country")
        if success:
            w.impostor(sink, ts, u, device, "high_risk_country", 1)
        ts += rng.randint(5, 120) * SECOND_MS


def _scripted_bot(w: AccountWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    city = rng.choice(DATACENTRE_CITIES)
    ip, geo = datacentre_ip(rng), city_geo(rng, city)
    device = device_id(rng)
    cadence = rng.uniform(25.0, 90.0)
    scenario = "scripted_bot"
    for u in rng.sample(w.users, min(len(w.users), rng.randint(3, 10))):
        success = not u.mfa and rng.random() < 0.85
        w.login(sink, ts, u.user_id, ip, city.country, device, success, False, geo, scenario)
        t = ts
        if success:
            for _ in range(rng.randint(2, 6)):
                t += rng.randint(1, 40) * SECOND_MS
                if w.want_sessions:
                    sink.add(t, SessionActivity, w.bot(u.user_id, device, cadence), scenario)
        ts += rng.randint(2, 20) * SECOND_MS


_ATO = "ato_impossible_travel"

_EPISODES = {
    "ato_impossible_travel": _ato_impossible_travel,
    "password_spraying": _password_spraying,
    "new_device_no_mfa": _new_device_no_mfa,
    "high_risk_country": _high_risk_country,
    "scripted_bot": _scripted_bot,
}


def account_drafts(seed: int, n: int, start_ms: int, kind: str) -> Iterator[Draft]:
    """Drafts of logins and sessions for ``kind`` = ``login``, ``session_activity`` or ``ato``."""
    return AccountWorld(seed, n, start_ms, kind).stream()
