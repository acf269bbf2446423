"""SQLAlchemy models of the store; one module per area, all on one metadata."""

from casework.models.audit import AuditEntry, AuditHead
from casework.models.base import Base
from casework.models.cases import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseNote,
    CaseTag,
    Queue,
    QueueMember,
    TimelineEntry,
)
from casework.models.catalog import (
    ListItem,
    ListItemChange,
    ManagedList,
    ModelVersion,
    ReferenceData,
    RulepackActive,
    RulepackPublication,
    RulepackVersion,
)
from casework.models.events import DecisionRecord, EventRecord, Label
from casework.models.outbox import OutboxMessage
from casework.models.tenancy import ApiClient, Tenant, User, UserRole
from casework.models.webhooks import (
    Integration,
    IntegrationDelivery,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "ApiClient",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Case",
    "CaseAssignment",
    "CaseEvent",
    "CaseNote",
    "CaseTag",
    "DecisionRecord",
    "EventRecord",
    "Integration",
    "IntegrationDelivery",
    "Label",
    "ListItem",
    "ListItemChange",
    "ManagedList",
    "ModelVersion",
    "OutboxMessage",
    "Queue",
    "QueueMember",
    "ReferenceData",
    "RulepackActive",
    "RulepackPublication",
    "RulepackVersion",
    "Tenant",
    "TimelineEntry",
    "User",
    "UserRole",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
