"""Reference data: vehicles and schedules from JSON, JSON Lines and CSV; errors name the file and row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from engine.engine import Engine
from engine.pack import load_pack
from engine.refdata import (
    DEFAULT_SCHEDULE,
    RefDataError,
    Schedule,
    load_file,
    load_records,
    read_file,
    schedule_of,
    validate_record,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_vehicles_from_csv_keep_extra_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", "id,tank_liters,plate\nv1,60,B-X 1\nv2,80.5,\n")
    assert read_file("vehicles", path) == [
        {"id": "v1", "tank_liters": 60.0, "plate": "B-X 1"},
        {"id": "v2", "tank_liters": 80.5},
    ]


def test_schedules_from_json_jsonl_and_csv(tmp_path: Path) -> None:
    records = [
        {"id": "default", "days": [0, 1, 2, 3, 4], "start": "06:00", "end": "20:00", "tz": "UTC"},
        {"id": "night", "days": ["Mon", "tue"], "start": "22:00", "end": "06:00", "tz": "Europe/Berlin"},
    ]
    from_json = read_file("schedules", write(tmp_path, "s.json", json.dumps(records)))
    wrapped = read_file("schedules", write(tmp_path, "w.json", json.dumps({"schedules": records})))
    lines = read_file(
        "schedules", write(tmp_path, "s.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    )
    csv_text = (
        'id,days,start,end,tz\ndefault,"0,1,2,3,4",06:00,20:00,\nnight,mon tue,22:00,06:00,Europe/Berlin\n'
    )
    from_csv = read_file("schedules", write(tmp_path, "s.csv", csv_text))
    assert from_json == wrapped == lines == from_csv
    assert from_csv[1]["days"] == [0, 1] and from_csv[0]["tz"] == "UTC"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("v.csv", "id,tank_liters\nv1,60\nv2,-5\n", "v.csv:3: tank_liters: Expected `float` > 0.0"),
        ("v.csv", "id,tank_liters\nv1,sixty\n", "v.csv:2: tank_liters: Expected `float`"),
        ("v.csv", "vehicle,tank_liters\nv1,60\n", "v.csv:1: the header row must name an 'id' column"),
        ("v.csv", "id,tank_liters\nv1,60\nv1,70\n", "v.csv:3: duplicate id 'v1' (first at 2)"),
        ("v.csv", "id,tank_liters\nv1\n", "v.csv:2: Object missing required field `tank_liters`"),
        ("v.json", '[{"id": "v1", "tank_liters": 60}, {"id": "v2"}]', "v.json: record 2: Object missing"),
        ("v.json", '[{"id": "v1", "tank_liters": "60"}]', "v.json: record 1: tank_liters: Expected `float`"),
        ("v.json", '{"id": "v1"}', "v.json: expected an array of vehicles records"),
        ("v.json", "[\n{oops}\n]", "v.json:2: invalid JSON"),
        (
            "v.jsonl",
            '{"id": "v1", "tank_liters": 60}\n[1]\n',
            "v.jsonl:2: a vehicles record must be an object",
        ),
    ],
)
def test_vehicle_file_errors_say_where(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(RefDataError) as info:
        read_file("vehicles", write(tmp_path, name, text))
    assert message in str(info.value)
    assert str(info.value).startswith(str(tmp_path))


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": "s", "days": [7], "start": "06:00", "end": "20:00"}, "days[0]: Expected `int` <= 6"),
        ({"id": "s", "days": [], "start": "06:00", "end": "20:00"}, "days: Expected `array` of length >= 1"),
        ({"id": "s", "days": [0], "start": "24:00", "end": "20:00"}, "start: Expected `str` matching"),
        ({"id": "s", "days": [0], "start": "6:00", "end": "20:00"}, "start: Expected `str` matching"),
        ({"id": "s", "days": [0], "start": "06:00", "end": "06:00"}, "start and end must differ"),
        ({"id": "s", "days": [0], "start": "06:00", "end": "20:00", "tz": "Mars/Base"}, "unknown time zone"),
        ({"id": "s", "days": ["someday"], "start": "06:00", "end": "20:00"}, "days[0]: Expected `int`"),
    ],
)
def test_schedule_validation(record: dict[str, object], message: str) -> None:
    with pytest.raises(RefDataError) as info:
        validate_record("schedules", record)
    assert message in str(info.value)
    assert schedule_of(record) is None


def test_schedule_end_of_day_and_default() -> None:
    schedule = schedule_of({"id": "all", "days": "sat,sun", "start": "00:00", "end": "24:00"})
    assert schedule == Schedule("all", [5, 6], "00:00", "24:00", "UTC")
    assert schedule.end_seconds == 86400
    assert (DEFAULT_SCHEDULE.days, DEFAULT_SCHEDULE.start, DEFAULT_SCHEDULE.end) == (
        [0, 1, 2, 3, 4],
        "06:00",
        "20:00",
    )
    with pytest.raises(RefDataError, match="unknown reference table 'drivers'"):
        validate_record("drivers", {"id": "d"})


def test_loading_into_an_engine_feeds_the_detectors(tmp_path: Path) -> None:
    pack = load_pack(
        'pack p 1.0.0 "p"\non fuel_purchase\nrule over when over_tank_capacity() score 50\n'
        "outcome\n  review when score >= 40\n  approve\n"
    )
    engine = Engine([pack])
    load_file(engine, "vehicles", write(tmp_path, "v.csv", "id,tank_liters\nv1,60\n"))
    assert engine.context.refs["vehicles"]["v1"] == {"id": "v1", "tank_liters": 60.0}
    event = {"kind": "fuel_purchase", "id": "f1", "timestamp": "2026-01-01T12:00:00Z", "vehicle_id": "v1"}
    assert engine.evaluate({**event, "liters": 61.0}).outcome == "review"
    assert engine.evaluate({**event, "id": "f2", "liters": 59.0}).outcome == "approve"


def test_load_records_is_all_or_nothing() -> None:
    engine = Engine([])
    with pytest.raises(RefDataError):
        load_records(engine, "vehicles", [{"id": "v1", "tank_liters": 60}, {"id": "v2", "tank_liters": 0}])
    assert engine.context.refs == {}
    assert load_records(engine, "vehicles", [{"id": "v1", "tank_liters": 60}]) == 1


def test_cli_ref_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "v.csv", "id,tank_liters\nv1,60\nv2,80.5\n")
    assert main(["ref", "load", "--table", "vehicles", str(good)]) == 0
    out = capsys.readouterr().out
    assert "2 vehicles, all valid" in out and "v1: tank 60 l" in out and "v2: tank 80.5 l" in out
    schedules = write(tmp_path, "s.json", '[{"id": "n", "days": [0], "start": "22:00", "end": "06:00"}]')
    assert main(["ref", "load", "--table", "schedules", str(schedules)]) == 0
    assert "1 schedule, all valid" in capsys.readouterr().out
    bad = write(tmp_path, "b.csv", "id,tank_liters\nv1,-1\n")
    assert main(["ref", "load", "--table", "vehicles", str(bad)]) == 1
    assert f"vigil ref load: error: {bad}:2: tank_liters" in capsys.readouterr().err
    assert main(["ref", "load", "--table", "vehicles", str(tmp_path / "missing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err
