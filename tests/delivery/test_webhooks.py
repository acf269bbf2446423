"""Webhook endpoints (CRUD, audit, rotation) and Standard Webhooks signatures checked by the
`standardwebhooks` library, as a receiver would check them."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from casework import signing_webhooks, webhooks
from casework.context import Actor, Context
from casework.db import transaction
from casework.errors import InvalidInput, NotFound
from casework.models import AuditEntry, OutboxMessage

ADMIN = Actor("user", "admin")


def test_secret_shape() -> None:
    secret = signing_webhooks.new_secret()
    assert secret.startswith("whsec_")
    assert len(signing_webhooks.secret_key(secret)) == 24
    with pytest.raises(InvalidInput):
        signing_webhooks.secret_key("whsec_c2hvcnQ=")


def test_signatures_verify_with_standardwebhooks_under_either_secret() -> None:
    old, new = signing_webhooks.new_secret(), signing_webhooks.new_secret()
    body = b'{"type":"case.opened","data":{"case_id":1}}'
    headers = signing_webhooks.headers("msg_1", int(time.time()), body, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "case.opened", "data": {"case_id": 1}}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing_webhooks.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_crud_is_audited_and_tenant_scoped(engine: Engine, tenant: str) -> None:
    ctx = Context(tenant, ADMIN)
    with transaction(engine) as session:
        created = webhooks.create_endpoint(
            session, ctx, "https://hooks.example.com/vigil", event_types=["case.opened", "decision.blocked"]
        )
    endpoint = created.endpoint
    assert created.secret.startswith("whsec_")
    assert endpoint.event_types == ["case.opened", "decision.blocked"]
    with transaction(engine) as session:
        changed = webhooks.update_endpoint(
            session, ctx, endpoint.id, {"description": "ops", "enabled": False}
        )
        assert not changed.enabled
        rotated = webhooks.rotate_secret(session, ctx, endpoint.id)
        assert rotated.secret != created.secret and rotated.endpoint.rotating
        row = webhooks.load(session, tenant, endpoint.id)
        assert webhooks.active_secrets(row) == [rotated.secret, created.secret]
        webhooks.end_rotation(session, ctx, endpoint.id)
        assert webhooks.active_secrets(row) == [rotated.secret]
        with pytest.raises(NotFound):
            webhooks.get_endpoint(session, Context("globex"), endpoint.id)
        assert [e.id for e in webhooks.list_endpoints(session, ctx)] == [endpoint.id]
        webhooks.delete_endpoint(session, ctx, endpoint.id)
    with transaction(engine) as session:
        actions = session.execute(
            sa.select(AuditEntry.action, AuditEntry.changes).where(
                AuditEntry.object_type == "webhook_endpoint"
            )
        ).all()
    assert [a for a, _ in actions] == [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.rotation_ended",
        "webhook.deleted",
    ]
    assert "whsec_" not in repr(actions)


def test_bad_input(engine: Engine, tenant: str) -> None:
    ctx = Context(tenant, ADMIN)
    with transaction(engine) as session:
        with pytest.raises(InvalidInput):
            webhooks.create_endpoint(session, ctx, "ftp://example.com/x")
        with pytest.raises(InvalidInput):
            webhooks.create_endpoint(session, ctx, "https://u:p@example.com/x")
        with pytest.raises(InvalidInput):
            webhooks.create_endpoint(session, ctx, "https://example.com/x", event_types=["case.exploded"])
        created = webhooks.create_endpoint(session, ctx, "https://example.com/x")
        with pytest.raises(InvalidInput):
            webhooks.update_endpoint(session, ctx, created.endpoint.id, {"secret": "x"})


def test_topics_map_to_event_types() -> None:
    for topic in webhooks.EVENT_TYPES:
        assert webhooks.event_type_of(topic) == topic
    assert webhooks.event_type_of("notify") is None


def test_ping_goes_through_the_outbox(engine: Engine, tenant: str) -> None:
    ctx = Context(tenant, ADMIN)
    with transaction(engine) as session:
        created = webhooks.create_endpoint(session, ctx, "https://example.com/x")
        message_id = webhooks.send_test_ping(session, ctx, created.endpoint.id)
    with transaction(engine) as session:
        row = session.execute(sa.select(OutboxMessage)).scalar_one()
    assert row.message_id == message_id and row.topic == "test.ping"
    assert row.payload["endpoint_id"] == created.endpoint.id
