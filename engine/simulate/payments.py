"""Card payments: a population of customers, merchants and terminals, with fraud injected.

Customers live in European cities, hold one to three cards and one or two
devices, and spend log-normal amounts around their own median at merchants near
home (``pos``), online (``ecom``) and at cash machines (``atm``), following
their own hours of the day and the week's rhythm. Fraud arrives as episodes
dealt by an :class:`~engine.simulate._core.EpisodeClock`; each episode is one
pattern that a detector family in the cards pack is meant to catch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

from engine.events import Geo, Payment
from engine.simulate._core import (
    ATTACKER_IPS,
    DAY_MS,
    FOREIGN_CITIES,
    HOUR_MS,
    MINUTE_MS,
    SECOND_MS,
    City,
    Draft,
    EpisodeClock,
    Sink,
    child_rng,
    city_geo,
    city_in,
    cumulative,
    currency_of,
    device_id,
    hour_of_day,
    ip_in,
    jitter,
    near,
    normalised,
    poisson,
    run_blocks,
    tier,
    weekday,
    weighted_cities,
)

SCENARIOS: list[tuple[str, str]] = [
    (
        "card_testing",
        "a burst of 6-14 tiny (<= 2.00) ecom payments on one card within minutes, then a large one",
    ),
    ("compromised_terminal", "a terminal whose card-present payments over 2-5 days are fraudulent"),
    ("stolen_card_spree", "several payments at 3-10x the cardholder's usual amount, new device, foreign IP"),
    ("geo_mismatch", "a large (> 500) ecom payment from an IP in another country than the card's"),
    ("structuring", "3-6 payments just under 10,000 on one card within a day"),
    ("duplicate_payment", "the same card, merchant and amount charged again within minutes"),
    ("risky_mcc_cnp", "card-not-present payments at gambling, money-transfer, crypto or jewellery merchants"),
    ("blocked_ip", "attackers reusing a few addresses in 203.0.113.0/24 across many cards"),
    ("device_ring", "one device shared by 5-12 freshly opened accounts"),
]

#: tiny card-testing amounts stay at or below this, as the card_testing detector's default
CARD_TEST_MAX = 2.0

RISKY_MCCS = ("5967", "7995", "4829", "6051", "5944")

# (mcc, amount factor relative to the customer's median)
_POS_MCCS: tuple[tuple[str, float], ...] = (
    ("5411", 1.0),  # groceries
    ("5411", 1.0),
    ("5411", 1.0),
    ("5812", 1.2),  # restaurants
    ("5814", 0.35),  # fast food
    ("5814", 0.35),
    ("5541", 1.6),  # fuel
    ("5912", 0.6),  # pharmacy
    ("5311", 1.8),  # department store
    ("5651", 2.0),  # clothing
    ("5732", 4.0),  # electronics
    ("5999", 0.9),  # misc retail
    ("4111", 0.15),  # transit
    ("4121", 0.6),  # taxi
    ("5942", 0.7),  # books
)
_ECOM_MCCS: tuple[tuple[str, float], ...] = (
    ("5815", 0.3),  # digital goods
    ("5968", 0.4),  # subscriptions
    ("4899", 0.5),  # streaming
    ("5311", 1.8),
    ("5691", 2.0),  # clothing
    ("5732", 4.0),
    ("4722", 8.0),  # travel agency
    ("4814", 0.9),  # telecom
    ("5942", 0.7),
    ("4900", 2.5),  # utilities
)
_ATM_AMOUNTS = (20, 40, 50, 50, 60, 100, 100, 100, 150, 200, 200, 250, 300, 400, 500)

# Share of a customer's daily payments per hour of the day, by habit.
_HOURS: tuple[list[float], ...] = (
    # daytime
    normalised([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 5, 6, 7, 9, 8, 7, 7, 8, 9, 8, 6, 4, 3, 2, 1.5]),
    # evening
    normalised([3, 2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 4, 5, 6, 5, 5, 5, 6, 8, 10, 11, 10, 9, 7, 5]),
    # early riser
    normalised([0.5, 0.2, 0.2, 0.3, 1, 3, 6, 9, 9, 8, 7, 7, 7, 6, 5, 5, 5, 5, 4, 3, 2, 1.5, 1, 0.7]),
)
_WEEKDAY = (0.95, 0.95, 1.0, 1.0, 1.1, 1.2, 0.8)

#: a customer's mean number of payments per day
_DAILY_RATE = 2.0
#: share of all events that belong to fraud episodes, in the long run
_FRAUD_SHARE = 0.03


class Merchant:
    """A shop, website or cash machine; ``factor`` scales its customers' usual amounts."""

    __slots__ = ("country", "currency", "factor", "geo", "id", "mcc", "terminals")

    def __init__(
        self, mid: str, mcc: str, factor: float, country: str, geo: Geo, terminals: list[tuple[str, Geo]]
    ) -> None:
        self.id = mid
        self.mcc = mcc
        self.factor = math.log(factor)
        self.country = country
        self.currency = currency_of(country)
        self.geo = geo
        self.terminals = terminals


class Customer:
    """A cardholder: home, cards, devices, addresses, spending habits (log-normal ``mu``, ``sigma``)."""

    __slots__ = (
        "age0",
        "atm",
        "cards",
        "city",
        "country",
        "devices",
        "ecom",
        "geo",
        "ip",
        "local",
        "mobile_ip",
        "mu",
        "online",
        "sigma",
        "teller",
        "user_id",
    )

    def __init__(self, rng: random.Random, index: int, city: City) -> None:
        self.user_id = f"u{index:07d}"
        self.city = city
        self.country = city.country
        self.geo = jitter(rng, city.lat, city.lon, 12.0)
        self.cards = [f"c{index:07d}{k}" for k in range(rng.choice((1, 1, 1, 2, 2, 3)))]
        self.devices = [device_id(rng) for _ in range(rng.choice((1, 1, 2)))]
        self.ip = ip_in(rng, city.country)
        self.mobile_ip = ip_in(rng, city.country)
        self.mu = math.log(rng.lognormvariate(math.log(30.0), 0.5))
        self.sigma = rng.uniform(0.45, 0.85)
        self.ecom = rng.uniform(0.1, 0.45)
        self.atm = rng.uniform(0.02, 0.1)
        self.age0 = int(rng.lognormvariate(math.log(900.0), 1.0)) + 30
        self.local: list[Merchant] = []
        self.online: list[Merchant] = []
        self.teller: list[Merchant] = []

    @property
    def median(self) -> float:
        return math.exp(self.mu)


class PaymentWorld:
    """The population and the episode clock of one payment stream."""

    def __init__(self, seed: int, n: int, start_ms: int) -> None:
        self.start_ms = start_ms
        size = tier(n, 50, 32, 32768)
        rng = child_rng(seed, f"payment-population-{size}")
        self.rng = child_rng(seed, f"payment-stream-{size}")
        cities = weighted_cities(rng, size)
        self.merchant_count = 0
        self._build_merchants(rng, cities, size)
        self.customers = [self._customer(rng, i + 1, city) for i, city in enumerate(cities)]
        self.next_user = size + 1
        # Customers are grouped by habit so an hour's arrivals can be drawn per group.
        self.groups: list[tuple[list[Customer], list[float], float]] = []
        by_habit: list[list[tuple[Customer, float]]] = [[] for _ in _HOURS]
        for customer in self.customers:
            by_habit[rng.randrange(len(_HOURS))].append((customer, rng.lognormvariate(0.0, 0.6)))
        for members in by_habit:
            weights = [weight for _, weight in members]
            self.groups.append(([m for m, _ in members], cumulative(weights), sum(weights)))
        total_activity = sum(g[2] for g in self.groups)
        self.daily_events = _DAILY_RATE * size
        self.activity_scale = self.daily_events / total_activity

        bag = [name for name, _ in SCENARIOS]
        mean_events = sum(_EVENTS_PER_EPISODE[b] for b in bag) / len(bag)
        episodes_per_day = self.daily_events * _FRAUD_SHARE / mean_events
        self.clock = EpisodeClock(self.rng, bag, DAY_MS / episodes_per_day, start_ms)

    def _build_merchants(self, rng: random.Random, cities: list[City], size: int) -> None:
        residents: dict[str, int] = {}
        for city in cities:
            residents[city.name] = residents.get(city.name, 0) + 1
        self.local_by_city: dict[str, list[Merchant]] = {}
        self.atms_by_city: dict[str, list[Merchant]] = {}
        for city in dict.fromkeys(cities):
            count = residents[city.name]
            self.local_by_city[city.name] = [
                self._merchant(
                    rng, *rng.choice(_POS_MCCS), city.country, jitter(rng, city.lat, city.lon, 15.0)
                )
                for _ in range(max(6, count // 3))
            ]
            self.atms_by_city[city.name] = [
                self._merchant(rng, "6011", 1.0, city.country, jitter(rng, city.lat, city.lon, 15.0))
                for _ in range(max(2, count // 15))
            ]
        self.online = [
            self._merchant(rng, *rng.choice(_ECOM_MCCS), site.country, city_geo(rng, site), terminals=0)
            for site in weighted_cities(rng, max(20, size // 15))
        ]
        self.risky = [
            self._merchant(rng, mcc, 3.0, site.country, city_geo(rng, site), terminals=0)
            for mcc in RISKY_MCCS
            for site in rng.sample(FOREIGN_CITIES, 2)
        ]

    def _customer(self, rng: random.Random, index: int, city: City) -> Customer:
        c = Customer(rng, index, city)
        local = self.local_by_city[city.name]
        # Repeats weight the favourites: people shop at a few places most of the time.
        favourites = rng.sample(local, min(len(local), rng.randint(4, 12)))
        c.local = favourites + favourites[: max(1, len(favourites) // 3)] * 3
        c.online = rng.sample(self.online, min(len(self.online), rng.randint(3, 8)))
        if rng.random() < 0.05:
            c.online.append(rng.choice(self.risky))
        c.teller = rng.sample(self.atms_by_city[city.name], 1)
        return c

    def _merchant(
        self,
        rng: random.Random,
        mcc: str,
        factor: float,
        country: str,
        geo: Geo,
        terminals: int | None = None,
    ) -> Merchant:
        self.merchant_count += 1
        mid = f"m{self.merchant_count:06d}"
        count = rng.choice((1, 1, 2, 3, 4)) if terminals is None else terminals
        terms = [(f"t{self.merchant_count:06d}{k}", near(rng, geo, 0.05)) for k in range(count)]
        return Merchant(mid, mcc, factor, country, geo, terms)

    # --- the stream -----------------------------------------------------------

    def stream(self) -> Iterator[Draft]:
        return run_blocks(self.start_ms, HOUR_MS, self.fill)

    def fill(self, sink: Sink, lo: int, hi: int) -> None:
        rng = self.rng
        hour = hour_of_day(lo)
        scale = self.activity_scale * _WEEKDAY[weekday(lo)] * (hi - lo) / HOUR_MS
        span = hi - lo
        for (members, cum, activity), hours in zip(self.groups, _HOURS, strict=True):
            count = poisson(rng, activity * scale * hours[hour])
            if not count or not members:
                continue
            for c in rng.choices(members, cum_weights=cum, k=count):
                ts = lo + rng.randrange(span)
                self.legit(sink, c, ts)
        for ts, scenario in self.clock.due(hi):
            _EPISODES[scenario](self, sink, ts)

    def age(self, c: Customer, ts: int) -> int:
        return c.age0 + (ts - self.start_ms) // DAY_MS

    def card(self, c: Customer) -> str:
        cards = c.cards
        if len(cards) == 1 or self.rng.random() < 0.7:
            return cards[0]
        return self.rng.choice(cards)

    def amount(self, c: Customer, m: Merchant) -> float:
        return round(max(0.5, self.rng.lognormvariate(c.mu + m.factor, c.sigma)), 2)

    def legit(self, sink: Sink, c: Customer, ts: int) -> None:
        rng = self.rng
        u = rng.random()
        if u < c.atm:
            m = c.teller[0]
            tid, geo = m.terminals[0] if len(m.terminals) == 1 else rng.choice(m.terminals)
            amount = float(rng.choice(_ATM_AMOUNTS))
            sink.add(ts, Payment, self.fields(c, m, amount, "atm", tid, geo, ts))
        elif u < c.atm + c.ecom:
            m = rng.choice(c.online)
            roll = rng.random()
            if roll < 0.012:
                # Travellers and VPN users: an honest payment from a foreign address.
                city = rng.choice(FOREIGN_CITIES)
                ip, country, geo = ip_in(rng, city.country), city.country, city_geo(rng, city)
            else:
                ip = c.ip if roll < 0.75 else c.mobile_ip
                country, geo = c.country, c.geo
            device = c.devices[0] if len(c.devices) == 1 or rng.random() < 0.8 else c.devices[1]
            sink.add(
                ts,
                Payment,
                self.fields(c, m, self.amount(c, m), "ecom", None, geo, ts, ip, country, device),
            )
        else:
            m = rng.choice(c.local)
            tid, geo = m.terminals[0] if len(m.terminals) == 1 else rng.choice(m.terminals)
            sink.add(ts, Payment, self.fields(c, m, self.amount(c, m), "pos", tid, geo, ts))

    def fields(
        self,
        c: Customer,
        m: Merchant,
        amount: float,
        channel: str,
        terminal: str | None,
        geo: Geo,
        ts: int,
        ip: str | None = None,
        ip_country: str | None = None,
        device: str | None = None,
        card: str | None = None,
        age: int | None = None,
    ) -> dict[str, Any]:
        return {
            "amount": amount,
            "currency": m.currency,
            "user_id": c.user_id,
            "card_id": card or self.card(c),
            "merchant_id": m.id,
            "terminal_id": terminal,
            "mcc": m.mcc,
            "channel": channel,
            "card_present": channel != "ecom",
            "card_country": c.country,
            "ip": ip,
            "ip_country": ip_country,
            "device_id": device,
            "geo": geo,
            "account_age_days": self.age(c, ts) if age is None else age,
        }

    def victim(self) -> Customer:
        return self.rng.choice(self.customers)

    def foreign(self, c: Customer) -> City:
        rng = self.rng
        while True:
            city = rng.choice(FOREIGN_CITIES)
            if city.country != c.country:
                return city

    def fresh_device(self) -> str:
        return device_id(self.rng)


# --- fraud episodes -----------------------------------------------------------


def _card_testing(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    c = w.victim()
    card = rng.choice(c.cards)
    city = w.foreign(c)
    ip, geo, device = ip_in(rng, city.country), city_geo(rng, city), w.fresh_device()
    # Testers probe where tiny amounts pass unnoticed: digital goods, subscriptions, streaming.
    cheap = [m for m in w.online if m.mcc in ("5815", "5968", "4899")] or w.online
    sites = [rng.choice(cheap), rng.choice(cheap), rng.choice(w.risky)]
    # Gaps of at most 40 s keep even 14 probes inside the detector's 10-minute window.
    for _ in range(rng.randint(6, 14)):
        m = rng.choice(sites[:2])
        if rng.random() < 0.6:
            amount = rng.choice((0.5, 1.0, 1.0, 1.5, CARD_TEST_MAX))
        else:
            amount = round(rng.uniform(0.3, CARD_TEST_MAX), 2)
        f = w.fields(c, m, amount, "ecom", None, geo, ts, ip, city.country, device, card)
        sink.add(ts, Payment, f, "card_testing")
        ts += rng.randint(5, 40) * SECOND_MS
    ts += rng.randint(1, 25) * MINUTE_MS
    for _ in range(rng.randint(1, 2)):
        m = rng.choice(sites)
        amount = round(rng.uniform(250.0, 1800.0), 2)
        f = w.fields(c, m, amount, "ecom", None, geo, ts, ip, city.country, device, card)
        sink.add(ts, Payment, f, "card_testing")
        ts += rng.randint(1, 15) * MINUTE_MS


def _compromised_terminal(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    c0 = w.victim()
    m = rng.choice(w.local_by_city[c0.city.name])
    tid, geo = rng.choice(m.terminals)
    # Cards of the terminal's neighbourhood, and of visitors where few live nearby.
    sample = rng.sample(w.customers, min(len(w.customers), 200))
    neighbours = [c for c in sample if c.city == c0.city]
    if len(neighbours) < 8:
        neighbours += sample[:8]
    days = rng.randint(2, 5)
    end = ts + days * DAY_MS
    count = rng.randint(12, 30)
    for t in sorted(rng.randrange(ts, end) for _ in range(count)):
        c = rng.choice(neighbours)
        amount = round(rng.uniform(40.0, 950.0), 2)
        sink.add(t, Payment, w.fields(c, m, amount, "pos", tid, geo, t), "compromised_terminal")


def _stolen_card_spree(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    c = w.victim()
    card = rng.choice(c.cards)
    city = w.foreign(c)
    ip, geo, device = ip_in(rng, city.country), city_geo(rng, city), w.fresh_device()
    for _ in range(rng.randint(3, 8)):
        m = rng.choice(w.online) if rng.random() < 0.7 else rng.choice(w.risky)
        amount = round(max(80.0, c.median * rng.uniform(3.0, 10.0)) * rng.uniform(1.0, 2.5), 2)
        f = w.fields(c, m, amount, "ecom", None, geo, ts, ip, city.country, device, card)
        sink.add(ts, Payment, f, "stolen_card_spree")
        ts += rng.randint(2, 60) * MINUTE_MS


def _geo_mismatch(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    c = w.victim()
    city = w.foreign(c)
    ip, geo, device = ip_in(rng, city.country), city_geo(rng, city), w.fresh_device()
    card = rng.choice(c.cards)
    for _ in range(rng.randint(1, 2)):
        m = rng.choice(w.online)
        amount = round(rng.uniform(520.0, 3200.0), 2)
        f = w.fields(c, m, amount, "ecom", None, geo, ts, ip, city.country, device, card)
        sink.add(ts, Payment, f, "geo_mismatch")
        ts += rng.randint(3, 90) * MINUTE_MS


def _structuring(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    c = w.victim()
    card = rng.choice(c.cards)
    targets = [m for m in w.risky if m.mcc in ("4829", "6051")]
    device = c.devices[0]
    for _ in range(rng.randint(3, 6)):
        m = rng.choice(targets)
        amount = float(rng.randrange(9100, 9990, 5))
        f = w.fields(c, m, amount, "ecom", None, c.geo, ts, c.ip, c.country, device, card)
        sink.add(ts, Payment, f, "structuring")
        ts += rng.randint(20, 300) * MINUTE_MS


def _duplicate_payment(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    c = w.victim()
    card = w.card(c)
    if rng.random() < 0.5:
        m = rng.choice(c.local)
        tid, geo = rng.choice(m.terminals)
        f = w.fields(c, m, w.amount(c, m), "pos", tid, geo, ts, card=card)
    else:
        m = rng.choice(c.online)
        f = w.fields(c, m, w.amount(c, m), "ecom", None, c.geo, ts, c.ip, c.country, c.devices[0], card)
    # The original purchase is honest; only the repeated charges are fraud.
    sink.add(ts, Payment, f)
    for _ in range(rng.choice((1, 1, 1, 2))):
        ts += rng.randint(20, 480) * SECOND_MS
        sink.add(ts, Payment, dict(f), "duplicate_payment")


def _risky_mcc_cnp(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    c = w.victim()
    card = rng.choice(c.cards)
    # Mostly through a proxy at home, so only the merchant category gives it away.
    if rng.random() < 0.7:
        ip, country, geo = ip_in(rng, c.country), c.country, c.geo
    else:
        city = w.foreign(c)
        ip, country, geo = ip_in(rng, city.country), city.country, city_geo(rng, city)
    device = w.fresh_device()
    for _ in range(rng.randint(1, 3)):
        m = rng.choice(w.risky)
        amount = round(rng.uniform(90.0, 1500.0), 2)
        f = w.fields(c, m, amount, "ecom", None, geo, ts, ip, country, device, card)
        sink.add(ts, Payment, f, "risky_mcc_cnp")
        ts += rng.randint(1, 40) * MINUTE_MS


def _blocked_ip(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    ip, country = rng.choice(list(ATTACKER_IPS.items()))
    geo = city_geo(rng, city_in(country))
    device = w.fresh_device()
    for _ in range(rng.randint(2, 5)):
        c = w.victim()
        m = rng.choice(w.online)
        amount = round(rng.uniform(15.0, 450.0), 2)
        f = w.fields(c, m, amount, "ecom", None, geo, ts, ip, country, device, rng.choice(c.cards))
        sink.add(ts, Payment, f, "blocked_ip")
        ts += rng.randint(1, 20) * MINUTE_MS


def _device_ring(w: PaymentWorld, sink: Sink, ts: int) -> None:
    rng = w.rng
    anchor = w.victim()
    device = w.fresh_device()
    ip = ip_in(rng, anchor.country)
    for _ in range(rng.randint(5, 12)):
        # Synthetic identities: new users that never appear in the honest population.
        index = w.next_user
        w.next_user += 1
        member = Customer(rng, index, anchor.city)
        age = rng.randint(0, 20)
        t = ts + rng.randrange(3 * DAY_MS)
        for _ in range(rng.randint(1, 3)):
            m = rng.choice(w.online)
            amount = round(rng.uniform(60.0, 900.0), 2)
            f = w.fields(member, m, amount, "ecom", None, anchor.geo, t, ip, anchor.country, device, age=age)
            sink.add(t, Payment, f, "device_ring")
            t += rng.randint(5, 600) * MINUTE_MS


_EPISODES = {
    "card_testing": _card_testing,
    "compromised_terminal": _compromised_terminal,
    "stolen_card_spree": _stolen_card_spree,
    "geo_mismatch": _geo_mismatch,
    "structuring": _structuring,
    "duplicate_payment": _duplicate_payment,
    "risky_mcc_cnp": _risky_mcc_cnp,
    "blocked_ip": _blocked_ip,
    "device_ring": _device_ring,
}

# Mean fraud events per episode, which turns the target fraud share into an episode rate.
_EVENTS_PER_EPISODE: dict[str, float] = {
    "card_testing": 11.5,
    "compromised_terminal": 21.0,
    "stolen_card_spree": 5.5,
    "geo_mismatch": 1.5,
    "structuring": 4.5,
    "duplicate_payment": 1.25,
    "risky_mcc_cnp": 2.0,
    "blocked_ip": 3.5,
    "device_ring": 17.0,
}


def payment_drafts(seed: int, n: int, start_ms: int) -> Iterator[Draft]:
    return PaymentWorld(seed, n, start_ms).stream()
