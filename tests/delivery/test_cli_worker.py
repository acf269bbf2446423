"""``vigil worker --burst`` without Redis: the in-process worker relays and delivers what is due."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from delivery_receiver import Receiver
from standardwebhooks.webhooks import Webhook

from api.cli import main
from casework import outbox, webhooks
from casework.context import Context
from casework.db import create_engine, transaction
from casework.tenants import create_tenant


def test_vigil_worker_burst_in_process(
    delivery_sqlite_template: Path, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "vigil.sqlite3"
    shutil.copyfile(delivery_sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with transaction(engine) as session:
        create_tenant(session, Context("acme"), "Acme")
        created = webhooks.create_endpoint(session, Context("acme"), receiver.url, allow_private=True)
        outbox.write(session, [outbox.message(Context("acme"), "rulepack.published", {"pack": "cards"})])
    engine.dispose()
    monkeypatch.delenv("VIGIL_REDIS_URL", raising=False)
    assert main(["worker", "--burst", "--database-url", url]) == 0
    [got] = receiver.delivered
    assert Webhook(created.secret).verify(got.body, got.headers)["type"] == "rulepack.published"
