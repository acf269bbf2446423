"""Request ids, structured JSON logs and Prometheus metrics.

Every response carries ``X-Request-ID`` (the caller's, when it sent a sane one, else a
new one); every log line written while a request is handled carries it too.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.decision import Decision

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vigil_request_id", default=None
)


def new_request_id(incoming: str | None) -> str:
    if incoming and _SANE_ID.match(incoming):
        return incoming
    return secrets.token_hex(12)


def request_id_of(scope: Any) -> str | None:
    state = scope.get("state") or {}
    value = state.get("request_id") if isinstance(state, dict) else None
    return value if isinstance(value, str) else _current_request_id.get()


def set_current_request_id(value: str | None) -> contextvars.Token[str | None]:
    return _current_request_id.set(value)


def reset_current_request_id(token: contextvars.Token[str | None]) -> None:
    _current_request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extras."""

    _RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _current_request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in self._RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the ``vigil`` loggers (idempotent)."""
    logger = logging.getLogger("vigil")
    logger.setLevel(level)
    if not any(getattr(h, "_vigil", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._vigil = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False


class Metrics:
    """The service's Prometheus metrics, on a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vigil_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vigil_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.decisions = Counter(
            "vigil_decisions", "Decisions made, by outcome", ["outcome"], registry=self.registry
        )
        self.rule_hits = Counter(
            "vigil_rule_hits", "Rule hits in decisions", ["rule"], registry=self.registry
        )
        self.outbox_pending = Gauge(
            "vigil_outbox_pending",
            "Outbox messages not relayed to the workers yet (the delivery queue's depth)",
            registry=self.registry,
        )
        self.tokens = Counter(
            "vigil_tokens_issued", "Access tokens issued, by role", ["role"], registry=self.registry
        )

    def observe_decisions(self, decisions: Iterable[Decision]) -> None:
        outcomes: dict[str, int] = {}
        rules: dict[str, int] = {}
        for decision in decisions:
            outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
            for hit in decision.hits:
                rules[hit.rule] = rules.get(hit.rule, 0) + 1
        for outcome, n in outcomes.items():
            self.decisions.labels(outcome).inc(n)
        for rule, n in rules.items():
            self.rule_hits.labels(rule).inc(n)
