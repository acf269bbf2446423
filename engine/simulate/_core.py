"""Machinery shared by every simulated kind: time blocks merged into one ordered stream,
stable ids, seeded randomness, the world's places and addresses.

A simulator fills one time block at a time (an hour of payments, a day of fleet
driving) into a heap of drafts. Everything a block starts lies at or after the
block's start, so once the block is filled every draft earlier than its end can
be emitted: the stream comes out in event-time order with bounded memory, and
episodes that run for days (a compromised terminal) simply stay in the heap.
Timestamps are integer milliseconds since the Unix epoch until the very end,
so ordering and arithmetic are exact.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, cast

from engine.events import BaseEvent, Event, Geo

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MINUTE_MS = 60_000
SECOND_MS = 1_000

#: the default beginning of every simulated stream
DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

LEGIT = "legit"


class Draft(NamedTuple):
    """An event before it has an id: ordered by ``(ts, seq)``, so ties keep creation order."""

    ts: int
    seq: int
    cls: type[BaseEvent]
    fields: dict[str, Any]
    scenario: str


class Sink:
    """The heap one simulator fills block by block."""

    __slots__ = ("floor", "heap", "seq")

    def __init__(self) -> None:
        self.heap: list[Draft] = []
        self.seq = 0
        self.floor = 0

    def add(self, ts: int, cls: type[BaseEvent], fields: dict[str, Any], scenario: str = LEGIT) -> None:
        # An event before the block's start could already have been overtaken by
        # emitted ones; that would be a simulator bug, never something to paper over.
        if ts < self.floor:
            raise AssertionError(f"draft at {ts} precedes its block start {self.floor}")
        self.seq += 1
        heapq.heappush(self.heap, Draft(ts, self.seq, cls, fields, scenario))


#: fills ``sink`` with every draft that starts in ``[lo, hi)`` (it may end later)
BlockFiller = Callable[[Sink, int, int], None]


def run_blocks(start_ms: int, block_ms: int, fill: BlockFiller) -> Iterator[Draft]:
    """The endless, time-ordered stream of drafts of blocks aligned to ``block_ms``."""
    sink = Sink()
    lo = start_ms
    hi = (start_ms // block_ms + 1) * block_ms
    heap = sink.heap
    while True:
        sink.floor = lo
        fill(sink, lo, hi)
        while heap and heap[0].ts < hi:
            yield heapq.heappop(heap)
        lo, hi = hi, hi + block_ms


_PREFIX: dict[str, str] = {
    "payment": "pay",
    "fuel_purchase": "fuel",
    "vehicle_position": "pos",
    "login": "login",
    "session_activity": "sess",
}


def materialise(drafts: Iterator[Draft], wanted: frozenset[type[BaseEvent]]) -> Iterator[Event]:
    """Turn drafts of the wanted kinds into event Structs with ids numbered per kind."""
    counters: dict[type[BaseEvent], int] = {}
    prefixes = {cls: _PREFIX[str(cls.__struct_config__.tag)] for cls in wanted}
    epoch = _EPOCH
    delta = dt.timedelta
    for ts, _seq, cls, fields, scenario in drafts:
        if cls not in wanted:
            continue
        number = counters.get(cls, 0) + 1
        counters[cls] = number
        event = cls(
            id=f"{prefixes[cls]}-{number:09d}",
            timestamp=epoch + delta(milliseconds=ts),
            attributes={"is_fraud": scenario != LEGIT, "scenario": scenario},
            **fields,
        )
        yield cast(Event, event)


def start_millis(start: dt.datetime | None) -> int:
    """Milliseconds since the epoch of ``start`` (naive means UTC), rounded up."""
    if start is None:
        start = DEFAULT_START
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    micros = (start - _EPOCH) // dt.timedelta(microseconds=1)
    return -(-micros // 1000)


def hour_of_day(ts: int) -> int:
    return (ts // HOUR_MS) % 24


def weekday(ts: int) -> int:
    """Monday is 0, as in ``datetime.weekday``; 1970-01-01 was a Thursday."""
    return (ts // DAY_MS + 3) % 7


def child_rng(seed: int, label: str) -> random.Random:
    """An independent generator per purpose, so that one part's draws never shift another's."""
    # A str seed goes through SHA-512, so it is the same in every process
    # (unlike hash()), and nearby seeds give unrelated streams.
    return random.Random(f"vigil-simulate:{seed}:{label}")


def tier(n: int, events_per_entity: int, lowest: int, highest: int) -> int:
    """Population size for a stream of ``n`` events: a power of two, so all streams of
    one tier are prefixes of each other."""
    size = lowest
    while size < highest and size * events_per_entity < n:
        size *= 2
    return size


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0.0:
        return 0
    if lam < 30.0:
        limit = math.exp(-lam)
        k = 0
        p = rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


class EpisodeClock:
    """When the next fraud episode starts and which pattern it is.

    Gaps are regular with jitter rather than exponential, and patterns are dealt
    from a shuffled bag, so every pattern shows up within the first couple of
    bags and the fraud share of a prefix stays close to the long-run share.
    The first episode comes early so that short streams already contain fraud.
    """

    def __init__(self, rng: random.Random, bag: Sequence[str], mean_gap_ms: float, start_ms: int) -> None:
        self._rng = rng
        self._bag = list(bag)
        self._hand: list[str] = []
        self._gap = mean_gap_ms
        self.next_ms = start_ms + int(mean_gap_ms * rng.uniform(0.02, 0.5))

    def due(self, before_ms: int) -> list[tuple[int, str]]:
        """The episodes starting before ``before_ms`` that have not been handed out yet."""
        out: list[tuple[int, str]] = []
        while self.next_ms < before_ms:
            out.append((self.next_ms, self.draw()))
            self.next_ms += max(1, int(self._gap * self._rng.uniform(0.5, 1.5)))
        return out

    def draw(self) -> str:
        if not self._hand:
            self._hand = self._bag[:]
            self._rng.shuffle(self._hand)
        return self._hand.pop()


# --- places -----------------------------------------------------------------


class City(NamedTuple):
    name: str
    country: str
    lat: float
    lon: float


#: where the simulated institution's customers live, with relative weights
HOME_CITIES: tuple[tuple[City, float], ...] = (
    (City("Berlin", "DE", 52.520, 13.405), 6.0),
    (City("Hamburg", "DE", 53.551, 9.994), 3.0),
    (City("Munich", "DE", 48.137, 11.575), 3.0),
    (City("Cologne", "DE", 50.938, 6.960), 2.0),
    (City("Paris", "FR", 48.857, 2.352), 5.0),
    (City("Lyon", "FR", 45.764, 4.836), 1.5),
    (City("Amsterdam", "NL", 52.370, 4.895), 2.5),
    (City("Rotterdam", "NL", 51.924, 4.478), 1.0),
    (City("Madrid", "ES", 40.417, -3.704), 3.0),
    (City("Barcelona", "ES", 41.385, 2.173), 2.0),
    (City("Milan", "IT", 45.464, 9.190), 2.0),
    (City("Rome", "IT", 41.903, 12.496), 2.0),
    (City("London", "GB", 51.507, -0.128), 4.0),
    (City("Manchester", "GB", 53.481, -2.243), 1.0),
    (City("Vienna", "AT", 48.208, 16.373), 1.5),
    (City("Brussels", "BE", 50.850, 4.352), 1.0),
    (City("Warsaw", "PL", 52.230, 21.012), 1.5),
    (City("Stockholm", "SE", 59.329, 18.069), 1.0),
    (City("Lisbon", "PT", 38.722, -9.139), 1.0),
    (City("Dublin", "IE", 53.350, -6.260), 1.0),
)

#: where fraudsters' IPs geolocate, and where honest foreign sites sit
FOREIGN_CITIES: tuple[City, ...] = (
    City("New York", "US", 40.713, -74.006),
    City("Los Angeles", "US", 34.052, -118.244),
    City("Sao Paulo", "BR", -23.551, -46.633),
    City("Lagos", "NG", 6.524, 3.379),
    City("Moscow", "RU", 55.756, 37.617),
    City("Bucharest", "RO", 44.427, 26.103),
    City("Kyiv", "UA", 50.450, 30.523),
    City("Istanbul", "TR", 41.008, 28.978),
    City("Singapore", "SG", 1.352, 103.820),
    City("Bangkok", "TH", 13.756, 100.502),
    City("Manila", "PH", 14.600, 120.984),
    City("Jakarta", "ID", -6.208, 106.846),
    City("Mumbai", "IN", 19.076, 72.878),
    City("Hong Kong", "HK", 22.320, 114.170),
    City("Sydney", "AU", -33.869, 151.209),
    City("Dubai", "AE", 25.205, 55.271),
    City("Beijing", "CN", 39.904, 116.407),
)

#: logins from here are blocked outright by the account-takeover pack
SANCTIONED_CITIES: tuple[City, ...] = (
    City("Pyongyang", "KP", 39.039, 125.763),
    City("Tehran", "IR", 35.689, 51.389),
)

#: data-centre locations of hosting providers that bots rent
DATACENTRE_CITIES: tuple[City, ...] = (
    City("Ashburn", "US", 39.044, -77.487),
    City("Frankfurt", "DE", 50.110, 8.682),
    City("Amsterdam", "NL", 52.370, 4.895),
    City("Singapore", "SG", 1.352, 103.820),
)

CURRENCY: dict[str, str] = {"GB": "GBP", "PL": "PLN", "SE": "SEK", "US": "USD", "BR": "BRL", "RU": "RUB"}


def currency_of(country: str) -> str:
    return CURRENCY.get(country, "EUR")


# First octets per country. Invented, but stable per country so an address looks
# like it belongs somewhere; none is 203, which the attackers' documentation range uses.
_IP_FIRST: dict[str, tuple[int, ...]] = {
    "DE": (84, 91, 93, 178, 217),
    "FR": (82, 86, 90, 176),
    "NL": (77, 145, 213),
    "ES": (79, 83, 88),
    "IT": (79, 87, 151),
    "GB": (81, 86, 92, 109),
    "AT": (80, 178),
    "BE": (81, 109),
    "PL": (83, 89, 188),
    "SE": (78, 90),
    "PT": (85, 188),
    "IE": (86, 87),
    "US": (24, 68, 73, 98),
    "BR": (177, 179, 189),
    "NG": (102, 105, 197),
    "RU": (5, 46, 95),
    "RO": (5, 86, 188),
    "UA": (31, 46, 93),
    "TR": (78, 88, 176),
    "SG": (42, 116, 119),
    "TH": (49, 58, 171),
    "PH": (49, 112, 122),
    "ID": (36, 39, 110),
    "IN": (49, 106, 117),
    "HK": (42, 58, 112),
    "AU": (1, 49, 101),
    "AE": (5, 86, 94),
    "CN": (36, 58, 111),
    "KP": (175,),
    "IR": (2, 5, 37),
}

_DATACENTRE_FIRST: tuple[int, ...] = (34, 45, 104, 134, 159, 167, 185)


def city_in(country: str) -> City:
    """A known city of ``country`` (the first in the tables)."""
    for city in (*FOREIGN_CITIES, *DATACENTRE_CITIES, *SANCTIONED_CITIES, *(c for c, _ in HOME_CITIES)):
        if city.country == country:
            return city
    raise ValueError(f"no city known in {country!r}")


def device_id(rng: random.Random) -> str:
    """A device fingerprint. Honest and attacking devices look alike, so no id format gives fraud away."""
    return f"d{rng.getrandbits(40):010x}"


def ip_in(rng: random.Random, country: str) -> str:
    first = rng.choice(_IP_FIRST.get(country, (100,)))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def datacentre_ip(rng: random.Random) -> str:
    first = rng.choice(_DATACENTRE_FIRST)
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


#: attackers reuse a handful of addresses from 203.0.113.0/24 (RFC 5737,
#: documentation only), each geolocated to one country; a demo can put these on
#: the ``blocked_ips`` managed list
ATTACKER_IPS: dict[str, str] = {
    "203.0.113.9": "RU",
    "203.0.113.23": "NG",
    "203.0.113.47": "RO",
    "203.0.113.66": "BR",
    "203.0.113.88": "UA",
    "203.0.113.101": "NL",
    "203.0.113.142": "US",
    "203.0.113.199": "TR",
}

_KM_PER_DEG_LAT = 111.32


def jitter(rng: random.Random, lat: float, lon: float, km: float) -> Geo:
    """A point uniformly within ``km`` of ``(lat, lon)``."""
    r = km * math.sqrt(rng.random())
    a = rng.random() * math.tau
    dlat = r * math.cos(a) / _KM_PER_DEG_LAT
    dlon = r * math.sin(a) / (_KM_PER_DEG_LAT * max(0.1, math.cos(math.radians(lat))))
    return Geo(round(lat + dlat, 5), round(lon + dlon, 5))


def near(rng: random.Random, geo: Geo, km: float) -> Geo:
    return jitter(rng, geo.lat, geo.lon, km)


def city_geo(rng: random.Random, city: City, km: float = 0.0) -> Geo:
    if km <= 0.0:
        return Geo(city.lat, city.lon)
    return jitter(rng, city.lat, city.lon, km)


def haversine_km(a: Geo, b: Geo) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def weighted_cities(rng: random.Random, k: int) -> list[City]:
    cities = [c for c, _ in HOME_CITIES]
    weights = [w for _, w in HOME_CITIES]
    return rng.choices(cities, weights=weights, k=k)


def cumulative(weights: Sequence[float]) -> list[float]:
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def normalised(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]
