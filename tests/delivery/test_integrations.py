"""Integrations: templates checked when saved; a Slack-format post and a generic HTTP body to a
real receiver; an email over STARTTLS to a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from delivery_receiver import Receiver
from sqlalchemy.engine import Engine

from casework import integrations, worker
from casework.context import Actor, Context, utcnow
from casework.db import transaction
from casework.delivery import DeliverySettings
from casework.errors import InvalidInput
from casework.recording import record_decision
from engine.decision import Decision, Hit, Notify, PackRef
from engine.events import Payment

MESSAGE = {"integration": "ops", "rule": "big_amount", "event_id": "evt-9"}
CONTEXT = {"message": MESSAGE, "tenant": "acme", "integration": "ops"}
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
SLACK = {
    "text": "Rule {{ message.rule }} fired on {{ message.event_id }}",
    "blocks": '[{"type": "section", "text": {"type": "mrkdwn", "text": {{ ("*" ~ message.rule ~ "*")|tojson }}}}]',
}


def test_template_errors_are_reported_when_saved(engine: Engine, tenant: str) -> None:
    ctx = Context(tenant, Actor("user", "admin"))
    bad = [
        {"text": "{{ message.rule "},  # syntax
        {"text": "{{ message.nope }}"},  # unknown name, strict
        {"text": "x", "blocks": "{{ message.rule }}"},  # not JSON
        {"text": "{{ ''.__class__.__mro__ }}"},  # sandbox
    ]
    with transaction(engine) as session:
        for templates in bad:
            with pytest.raises(InvalidInput):
                integrations.create_integration(
                    session, ctx, "ops", "slack", {"url": "https://hooks.slack.com/x"}, templates
                )
        saved = integrations.create_integration(
            session, ctx, "ops", "slack", {"url": "https://hooks.slack.com/x"}, SLACK
        )
        assert saved.name == "ops"
        with pytest.raises(InvalidInput):
            integrations.update_templates(session, ctx, "ops", {"text": "{% for %}"})


def test_slack_and_http_posts(receiver: Receiver) -> None:
    async def run() -> None:
        async with httpx.AsyncClient() as client:
            rendered = integrations.render("slack", SLACK, CONTEXT)
            result = await integrations.send("slack", {"url": receiver.url}, rendered, client=client)
            assert result.ok
            body_template = {
                "body": '{"summary": {{ ("Vigil: " ~ message.rule)|tojson }}, "ref": "{{ message.event_id }}"}'
            }
            rendered = integrations.render("http", body_template, CONTEXT)
            headers = {"authorization": "Bearer t"}
            result = await integrations.send(
                "http", {"url": receiver.url, "headers": headers}, rendered, client=client
            )
            assert result.ok

    asyncio.run(run())
    slack, ticket = (json.loads(r.body) for r in receiver.delivered)
    assert slack["text"] == "Rule big_amount fired on evt-9"
    assert slack["blocks"][0]["text"]["text"] == "*big_amount*"
    assert ticket == {"summary": "Vigil: big_amount", "ref": "evt-9"}
    assert receiver.delivered[1].headers["authorization"] == "Bearer t"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (session.ssl is not None, envelope.rcpt_tos, message_from_bytes(envelope.content))
        )
        return "250 OK"


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[Controller, Inbox, ssl.SSLContext]]:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=_free_port(), tls_context=server_tls, require_starttls=True
    )
    controller.start()
    client_tls = ssl.create_default_context(cafile=str(cert))
    client_tls.check_hostname = False  # the test server is reached by address, the cert names localhost
    yield controller, inbox, client_tls
    controller.stop()


def test_email_over_starttls(smtp_server: tuple[Controller, Inbox, ssl.SSLContext]) -> None:
    controller, inbox, client_tls = smtp_server
    templates = {
        "subject": "[Vigil] {{ message.rule }}",
        "text": "Event {{ message.event_id }} hit {{ message.rule }}.",
        "html": "<p>Event <b>{{ message.event_id }}</b> {{ '<script>' }}</p>",
    }
    integrations.check_templates("email", templates)
    config = integrations.check_config(
        "email",
        {"host": "127.0.0.1", "port": controller.port, "from": "vigil@example.com", "to": "ops@example.com"},
    )
    rendered = integrations.render("email", templates, CONTEXT)

    async def run() -> integrations.SendResult:
        async with httpx.AsyncClient() as client:
            return await integrations.send("email", config, rendered, client=client, ssl_context=client_tls)

    assert asyncio.run(run()).ok
    [(over_tls, rcpt, mail)] = inbox.messages
    assert over_tls and rcpt == ["ops@example.com"]
    assert mail["Subject"] == "[Vigil] big_amount"
    text, html = (part.get_payload(decode=True).decode() for part in mail.walk() if not part.is_multipart())
    assert "evt-9" in text and "&lt;script&gt;" in html


def test_a_rule_notify_reaches_slack_and_email(
    engine: Engine, tenant: str, receiver: Receiver, smtp_server: tuple[Controller, Inbox, ssl.SSLContext]
) -> None:
    """A recorded decision whose rule says ``notify "ops"`` and ``notify "mail"`` posts to Slack and
    sends an email, through the outbox, the relay and the in-process worker; a failed Slack try is
    retried and the message arrives once."""
    controller, inbox, client_tls = smtp_server
    admin = Context(tenant, Actor("user", "admin"))
    email_templates = {"subject": "[Vigil] {{ message.rule }}", "text": "Event {{ message.event_id }}"}
    mail_config = {
        "host": "127.0.0.1",
        "port": controller.port,
        "from": "vigil@example.com",
        "to": "ops@example.com",
    }
    with transaction(engine) as session:
        integrations.create_integration(
            session, admin, "ops", "slack", {"url": receiver.url}, SLACK, allow_private=True
        )
        integrations.create_integration(
            session, admin, "mail", "email", mail_config, email_templates, allow_private=True
        )
    event = Payment(id="evt-n", timestamp=T0, amount=500.0, currency="EUR", card_id="c-9", user_id="u-9")
    hit = Hit(rule="big_amount", severity="high", score=80.0, tags=(), explanation=())
    decision = Decision(
        event_id="evt-n",
        outcome="review",
        score=80.0,
        risk_level="high",
        hits=(hit,),
        effects=(Notify(integration="ops", rule="big_amount"), Notify(integration="mail", rule="big_amount")),
        pack=PackRef("cards", "1.0.0"),
    )
    with transaction(engine) as session:
        record_decision(session, Context(tenant), event, decision)
    receiver.answer(500)
    clock = [utcnow()]
    ctx: dict[str, Any] = {
        "engine": engine,
        "clock": lambda: clock[0],
        "smtp_ssl_context": client_tls,
        "delivery_settings": DeliverySettings(jitter=0.0),
    }
    asyncio.run(worker.drain(ctx))
    clock[0] += dt.timedelta(seconds=6)
    asyncio.run(worker.drain(ctx))
    assert len(receiver.received) == 2
    [slack] = [json.loads(r.body) for r in receiver.delivered]
    assert slack["text"] == "Rule big_amount fired on evt-n"
    [(over_tls, _, mail)] = inbox.messages
    assert over_tls and mail["Subject"] == "[Vigil] big_amount"
