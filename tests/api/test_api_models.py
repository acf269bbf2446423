"""Model versions over HTTP, and an activated version scoring in the tenant's engine."""

from __future__ import annotations

import time
from functools import cache

import numpy as np
from conftest import OTHER, TENANT, Api, encode, payment

from casework import model_store
from casework.context import Actor, Context
from casework.db import transaction
from casework.settings import PROJECT_ROOT
from engine.engine import Engine
from engine.models import TrainedModel, casework_fields, train
from engine.pack import load_pack_file
from engine.simulate import simulate


@cache
def _model() -> TrainedModel:
    pack = load_pack_file(PROJECT_ROOT / "rulepacks" / "cards.rules")
    spec = pack.models["card_risk"]
    events = list(simulate("payment", 1500, seed=5))
    X = Engine([pack]).features("card_risk", events)
    y = np.array([bool(e.attributes["is_fraud"]) for e in events])
    times = np.array([e.timestamp.timestamp() for e in events])
    return train("classifier", X, y, times, feature_names=spec.feature_names, feature_hash=spec.feature_hash)


def test_list_activate_and_score(api: Api) -> None:
    ctx = Context(TENANT, Actor("user", "1"))
    with transaction(api.db) as session:
        model_store.save(session, ctx, "card_risk", "v1", **casework_fields(_model()))
    analyst = api.headers("analyst")
    listed = api.client.get("/v1/models/card_risk/versions", headers=analyst).json()
    assert [(v["version"], v["active"]) for v in listed] == [("v1", False)]
    assert "auc_roc" in str(listed[0]["metrics"]) or listed[0]["metrics"]

    integrator = api.headers("integrator")
    api.client.post("/v1/events", content=encode(payment("m-0")), headers=integrator)
    engine = api.app.services.engines.cached(TENANT)
    assert engine is not None and "card_risk" not in engine.context.models

    activated = api.client.post("/v1/models/card_risk/activate", json={"version": "v1"}, headers=analyst)
    assert activated.status_code == 200 and activated.json()["active"] is True
    deadline = time.monotonic() + 5
    n = 1
    while time.monotonic() < deadline:
        api.client.post("/v1/events", content=encode(payment(f"m-{n}")), headers=integrator)
        engine = api.app.services.engines.cached(TENANT)
        if engine is not None and "card_risk" in engine.context.models:
            break
        n += 1
        time.sleep(0.1)
    assert engine is not None and "card_risk" in engine.context.models

    assert (
        api.client.post("/v1/models/card_risk/activate", json={"version": "v9"}, headers=analyst).status_code
        == 404
    )
    stranger = api.headers("analyst", OTHER)
    assert api.client.get("/v1/models/card_risk/versions", headers=stranger).json() == []
    assert (
        api.client.post("/v1/models/card_risk/activate", json={"version": "v1"}, headers=stranger).status_code
        == 404
    )
