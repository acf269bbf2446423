"""Event kinds as msgspec Structs: the schema every rule is type-checked against.

JSON decodes straight into these (``decode_event``), so a payload with an unknown
kind or a field of the wrong type is rejected with msgspec's path-precise message
before any rule runs. Every field beyond the common ones is optional: a field that
is absent is ``null`` to the rules.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar

import msgspec


class Geo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A WGS 84 position in decimal degrees."""

    lat: float
    lon: float


class BaseEvent(msgspec.Struct, frozen=True, tag_field="kind", forbid_unknown_fields=True):
    """Fields every kind has. ``kind`` is the tag: it selects the Struct when decoding."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    timestamp: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    attributes: dict[str, Any] = {}

    #: the field whose value is the default case key of this kind
    primary_entity: ClassVar[str] = "id"


class Payment(BaseEvent, frozen=True, tag="payment"):
    amount: float | None = None
    currency: str | None = None
    user_id: str | None = None
    card_id: str | None = None
    merchant_id: str | None = None
    terminal_id: str | None = None
    mcc: str | None = None
    channel: str | None = None
    card_present: bool | None = None
    card_country: str | None = None
    ip: str | None = None
    ip_country: str | None = None
    device_id: str | None = None
    geo: Geo | None = None
    account_age_days: int | None = None

    primary_entity: ClassVar[str] = "card_id"


class FuelPurchase(BaseEvent, frozen=True, tag="fuel_purchase"):
    amount: float | None = None
    liters: float | None = None
    fuel_type: str | None = None
    card_id: str | None = None
    driver_id: str | None = None
    vehicle_id: str | None = None
    station_id: str | None = None
    geo: Geo | None = None
    odometer_km: float | None = None

    primary_entity: ClassVar[str] = "card_id"


class VehiclePosition(BaseEvent, frozen=True, tag="vehicle_position"):
    vehicle_id: str | None = None
    driver_id: str | None = None
    geo: Geo | None = None
    speed_kmh: float | None = None
    odometer_km: float | None = None
    ignition: bool | None = None

    primary_entity: ClassVar[str] = "vehicle_id"


class Login(BaseEvent, frozen=True, tag="login"):
    user_id: str | None = None
    ip: str | None = None
    ip_country: str | None = None
    device_id: str | None = None
    success: bool | None = None
    mfa_used: bool | None = None
    geo: Geo | None = None

    primary_entity: ClassVar[str] = "user_id"


class SessionActivity(BaseEvent, frozen=True, tag="session_activity"):
    user_id: str | None = None
    session_id: str | None = None
    device_id: str | None = None
    keystroke_intervals_ms: list[float] | None = None
    pointer_moves: int | None = None
    form_fill_ms: float | None = None
    pages: int | None = None

    primary_entity: ClassVar[str] = "user_id"


Event = Payment | FuelPurchase | VehiclePosition | Login | SessionActivity

#: the built-in kinds by name, in the order of the specification
KINDS: dict[str, type[BaseEvent]] = {
    "payment": Payment,
    "fuel_purchase": FuelPurchase,
    "vehicle_position": VehiclePosition,
    "login": Login,
    "session_activity": SessionActivity,
}

_decoder = msgspec.json.Decoder(Event)
_lines_decoder = msgspec.json.Decoder(list[Event])


class EventError(ValueError):
    """An event payload that does not match its kind's schema."""


def kind_of(event: BaseEvent) -> str:
    """The tag of an event Struct (``payment``, ``login``, ...)."""
    tag = type(event).__struct_config__.tag
    return str(tag)


def decode_event(data: bytes | str) -> Event:
    """Decode one JSON event; unknown kinds and wrong types raise EventError."""
    try:
        event: Event = _decoder.decode(data)
        return event
    except msgspec.ValidationError as exc:
        raise EventError(_explain(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise EventError(f"malformed JSON: {exc}") from None


def decode_events(data: bytes | str) -> list[Event]:
    """Decode a JSON array of events in one call."""
    try:
        return _lines_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise EventError(_explain(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise EventError(f"malformed JSON: {exc}") from None


def event_from_dict(data: dict[str, Any]) -> Event:
    """Validate a decoded mapping into its kind's Struct (same errors as decode_event)."""
    try:
        converted: Event = msgspec.convert(data, Event)
        return converted
    except msgspec.ValidationError as exc:
        raise EventError(_explain(str(exc))) from None


def _explain(message: str) -> str:
    if "Invalid value" in message and "`$.kind`" in message:
        return f"{message}; known kinds: {', '.join(KINDS)}"
    if "Object missing required field `kind`" in message:
        return f"{message}; every event names its kind ({', '.join(KINDS)})"
    return message
