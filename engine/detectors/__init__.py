"""The detector registry: every detector a rule can call, by name."""

from __future__ import annotations

from engine.detectors.amounts import AmountZscore, CardTesting, Duplicate, Structuring
from engine.detectors.base import Detector, StateFamily
from engine.detectors.behaviour import BotScore, KeystrokeDeviation
from engine.detectors.fleet import ConsumptionZscore, FuelFarFromVehicle, OffHours, OverTankCapacity
from engine.detectors.graph import RingSize
from engine.detectors.labels import EntityRisk, Hotspot
from engine.detectors.novelty import EntityAge, HourRarity, NewValue
from engine.detectors.travel import ImpossibleTravel, TravelKmh
from engine.detectors.windows import Distinct, SumAmount, Velocity

#: the detectors of the detector list (DETECTORS.md), in its order
DETECTORS: list[type[Detector]] = [
    Velocity,
    SumAmount,
    Distinct,
    AmountZscore,
    NewValue,
    TravelKmh,
    ImpossibleTravel,
    EntityAge,
    CardTesting,
    Structuring,
    Duplicate,
    EntityRisk,
    RingSize,
    HourRarity,
    BotScore,
    KeystrokeDeviation,
    OverTankCapacity,
    FuelFarFromVehicle,
    ConsumptionZscore,
    OffHours,
    Hotspot,
]


class DetectorRegistry:
    """Detectors by name; packs are checked and linked against one registry."""

    def __init__(self, detectors: list[type[Detector]] | None = None) -> None:
        self._by_name: dict[str, type[Detector]] = {}
        for detector in detectors or []:
            self.register(detector)

    def register(self, detector: type[Detector]) -> None:
        name = detector.sig.name
        if name in self._by_name:
            raise ValueError(f"detector '{name}' is registered twice")
        self._by_name[name] = detector

    def get(self, name: str) -> type[Detector] | None:
        return self._by_name.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())

    def names(self) -> list[str]:
        return list(self._by_name)


def default_registry() -> DetectorRegistry:
    return DetectorRegistry(DETECTORS)


__all__ = ["DETECTORS", "Detector", "DetectorRegistry", "StateFamily", "default_registry"]
