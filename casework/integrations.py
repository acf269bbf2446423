"""Integrations: Slack incoming webhooks, email over SMTP with STARTTLS, generic HTTP.

Each is configured per tenant under a name that rules reach with ``notify "name"``.
Messages are rendered from Jinja2 templates in a sandboxed environment with strict
undefined names; a template that does not compile, or does not render against a
sample message, is refused when the integration is saved, not when it fires.

Template parts by kind:

- ``slack``: ``text`` (fallback and notification text) and optionally ``blocks``,
  which must render to a JSON list of Block Kit blocks (use ``|tojson`` for values);
- ``email``: ``subject``, ``text`` and optionally ``html`` (autoescaped);
- ``http``: ``body``, which must render to JSON.

The template context is ``message`` (the outbox payload: ``integration``, ``rule``,
``event_id``), ``tenant`` and ``integration`` (its name).
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import httpx
import jinja2
import msgspec
import sqlalchemy as sa
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from casework import audit
from casework.context import Context
from casework.errors import InvalidInput, NotFound
from casework.models import Integration
from casework.webhooks import check_url

KINDS = ("slack", "email", "http")
REQUIRED_TEMPLATES = {"slack": ("text",), "email": ("subject", "text"), "http": ("body",)}
OPTIONAL_TEMPLATES = {"slack": ("blocks",), "email": ("html",), "http": ()}
SAMPLE = {"integration": "sample", "rule": "sample_rule", "event_id": "evt_sample"}

_text_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
_html_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)


class Rendered(msgspec.Struct, frozen=True):
    """What one message renders to: the parts of a Slack post, an email or an HTTP body."""

    parts: dict[str, Any]


def _env(part: str) -> SandboxedEnvironment:
    return _html_env if part == "html" else _text_env


def render(kind: str, templates: Mapping[str, str], context: Mapping[str, Any]) -> Rendered:
    """Render every template part; JSON parts (Slack ``blocks``, HTTP ``body``) are parsed."""
    parts: dict[str, Any] = {}
    for part, source in templates.items():
        text = _env(part).from_string(source).render(**context)
        if (kind, part) in (("slack", "blocks"), ("http", "body")):
            try:
                parts[part] = json.loads(text)
            except ValueError as error:
                raise InvalidInput(f"template {part!r} does not render to JSON: {error}") from None
            if part == "blocks" and not isinstance(parts[part], list):
                raise InvalidInput("template 'blocks' must render to a JSON list of blocks")
        else:
            parts[part] = text
    return Rendered(parts)


def check_templates(kind: str, templates: Mapping[str, str]) -> dict[str, str]:
    """Refuse unknown kinds or parts, missing parts, and templates that fail to compile or render."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown integration kind {kind!r}; known: {list(KINDS)}")
    allowed = set(REQUIRED_TEMPLATES[kind]) | set(OPTIONAL_TEMPLATES[kind])
    unknown = sorted(set(templates) - allowed)
    missing = [p for p in REQUIRED_TEMPLATES[kind] if p not in templates]
    if unknown or missing:
        raise InvalidInput(
            f"{kind} templates: unknown {unknown}, missing {missing}; parts: {sorted(allowed)}"
        )
    for part, source in templates.items():
        try:
            _env(part).from_string(source)
        except jinja2.TemplateSyntaxError as error:
            raise InvalidInput(f"template {part!r} line {error.lineno}: {error.message}") from None
    try:
        render(kind, templates, {"message": SAMPLE, "tenant": "sample", "integration": "sample"})
    except jinja2.TemplateError as error:
        raise InvalidInput(f"template does not render a sample message: {error}") from None
    return dict(templates)


def check_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings each kind needs: a URL (Slack, HTTP); server and addresses (email)."""
    config = dict(config)
    if kind in ("slack", "http"):
        config["url"] = check_url(str(config.get("url", "")))
    else:
        if not config.get("host") or not config.get("from") or not config.get("to"):
            raise InvalidInput("an email integration needs host, from and to")
        if isinstance(config["to"], str):
            config["to"] = [config["to"]]
        config["port"] = int(config.get("port", 587))
        config["starttls"] = bool(config.get("starttls", True))
    return config


# --- storage ------------------------------------------------------------------------------------


class IntegrationView(msgspec.Struct, frozen=True):
    id: int
    name: str
    kind: str
    enabled: bool
    allow_private: bool
    templates: dict[str, str]


def _view(row: Integration) -> IntegrationView:
    return IntegrationView(row.id, row.name, row.kind, row.enabled, row.allow_private, dict(row.templates))


def _public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in ("password", "url") else v) for k, v in config.items()}


def create_integration(
    session: Session,
    ctx: Context,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    templates: Mapping[str, str],
    *,
    allow_private: bool = False,
) -> IntegrationView:
    """Save an integration after checking its settings and templates; audited (secrets masked)."""
    if not name or len(name) > 100:
        raise InvalidInput("an integration name is 1 to 100 characters")
    checked = check_templates(kind, templates)
    settings = check_config(kind, config)
    exists = session.execute(
        sa.select(Integration.id).where(Integration.tenant_id == ctx.tenant, Integration.name == name)
    ).first()
    if exists:
        raise InvalidInput(f"an integration named {name!r} exists")
    row = Integration(
        tenant_id=ctx.tenant,
        name=name,
        kind=kind,
        config=settings,
        templates=checked,
        enabled=True,
        allow_private=allow_private,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    session.add(row)
    session.flush()
    changes = {"name": [None, name], "kind": [None, kind], "config": [None, _public_config(settings)]}
    audit.record(session, ctx, "integration.created", "integration", str(row.id), changes)
    return _view(row)


def update_templates(
    session: Session, ctx: Context, name: str, templates: Mapping[str, str]
) -> IntegrationView:
    """Replace the templates (checked first); audited."""
    row = load(session, ctx.tenant, name)
    checked = check_templates(row.kind, templates)
    before = dict(row.templates)
    row.templates = checked
    row.updated_at = ctx.now
    session.flush()
    audit.record(session, ctx, "integration.updated", "integration", str(row.id), audit.diff(before, checked))
    return _view(row)


def delete_integration(session: Session, ctx: Context, name: str) -> None:
    row = load(session, ctx.tenant, name)
    session.delete(row)
    session.flush()
    audit.record(session, ctx, "integration.deleted", "integration", str(row.id), {"name": [name, None]})


def load(session: Session, tenant: str, name: str) -> Integration:
    row = session.execute(
        sa.select(Integration).where(Integration.tenant_id == tenant, Integration.name == name)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"integration {name!r} not found")
    return row


# --- sending ------------------------------------------------------------------------------------


class SendResult(msgspec.Struct, frozen=True):
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry: bool = True


async def send(
    kind: str,
    config: Mapping[str, Any],
    rendered: Rendered,
    *,
    client: httpx.AsyncClient,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 10.0,
) -> SendResult:
    """Send one rendered message; ``ok`` when Slack/HTTP answer 2xx or the SMTP server accepts it."""
    if kind == "email":
        return await asyncio.to_thread(send_email, config, rendered, ssl_context, timeout_s)
    if kind == "slack":
        body: Any = {"text": rendered.parts["text"]}
        if "blocks" in rendered.parts:
            body["blocks"] = rendered.parts["blocks"]
    else:
        body = rendered.parts["body"]
    headers = {str(k): str(v) for k, v in dict(config.get("headers", {})).items()}
    try:
        response = await client.post(
            config["url"], json=body, headers=headers, timeout=timeout_s, follow_redirects=False
        )
    except httpx.HTTPError as error:
        return SendResult(False, error=f"{type(error).__name__}: {error}"[:500])
    ok = 200 <= response.status_code < 300
    return SendResult(ok, response.status_code, None if ok else f"HTTP {response.status_code}")


def send_email(
    config: Mapping[str, Any], rendered: Rendered, ssl_context: ssl.SSLContext | None, timeout_s: float
) -> SendResult:
    """One email over SMTP, upgraded with STARTTLS (refused if the server does not offer it)."""
    mail = EmailMessage()
    mail["Subject"] = rendered.parts["subject"].strip()
    mail["From"] = config["from"]
    mail["To"] = ", ".join(config["to"])
    mail.set_content(rendered.parts["text"])
    if "html" in rendered.parts:
        mail.add_alternative(rendered.parts["html"], subtype="html")
    try:
        with smtplib.SMTP(config["host"], config["port"], timeout=timeout_s) as smtp:
            if config.get("starttls", True):
                smtp.starttls(context=ssl_context or ssl.create_default_context())
            if config.get("username"):
                smtp.login(config["username"], config.get("password", ""))
            smtp.send_message(mail)
    except smtplib.SMTPNotSupportedError as error:
        return SendResult(False, error=f"STARTTLS not offered: {error}"[:500], retry=False)
    except (smtplib.SMTPException, OSError) as error:
        return SendResult(False, error=f"{type(error).__name__}: {error}"[:500])
    return SendResult(True)
