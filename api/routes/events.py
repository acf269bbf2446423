"""Events in, decisions out: each event is decided by the tenant's engine and recorded
(event, decision, cases, audit, outbox) in one transaction before the reply."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import JSONBody, PathParameter
from sqlalchemy.orm import Session

from api.auth import scopes
from api.auth.guard import context_of, services_of
from api.problems import ApiProblem, ProblemError
from casework import labels, lookups, recording
from casework.labels import LabelView
from engine.decision import Decision
from engine.events import BaseEvent, EventError, decode_event

#: the most bytes one request body may have (a batch of 1,000 rich events fits easily)
MAX_BODY = 8 * 1024 * 1024


class DecisionResult(msgspec.Struct, frozen=True, kw_only=True):
    """The decision for one event; ``duplicate`` when the event id was recorded before
    (the stored decision is returned and nothing is written)."""

    event_id: str
    decision: Decision
    duplicate: bool = False
    case_ids: tuple[int, ...] = ()


class BatchItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    index: int
    status: str  # "decided", "duplicate" or "rejected"
    event_id: str | None = None
    decision: Decision | None = None
    case_ids: tuple[int, ...] = ()
    error: str | None = None


class BatchResult(msgspec.Struct, frozen=True, kw_only=True):
    accepted: int
    rejected: int
    results: list[BatchItem]


class _Batch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    events: list[msgspec.Raw]


class LabelIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    #: fraud, legitimate or inconclusive
    label: str


def _bad_event(exc: EventError, index: int | None = None) -> ApiProblem:
    message = str(exc)
    status = 400 if message.startswith("malformed JSON") else 422
    code = "malformed_json" if status == 400 else "invalid_event"
    return ApiProblem(status, code, message, [ProblemError(message=message, index=index)])


async def _body(request: Request[Any, Any, Any]) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiProblem(413, "payload_too_large", f"a request body is at most {MAX_BODY} bytes")
    return body


async def _decide(request: Request[Any, Any, Any], events: list[BaseEvent]) -> list[recording.Recorded]:
    """Decide the events not recorded before and record everything, in one transaction.

    One worker thread does it all: look up ids recorded before (a retried event is not
    evaluated again, so detector state counts it once), evaluate the rest under the
    tenant's engine lock, and record.
    """
    services = services_of(request)
    ctx = context_of(request)
    engine = await services.engines.get(ctx.tenant)
    lock = services.engines.lock(ctx.tenant)

    def work(session: Session) -> list[recording.Recorded]:
        seen = lookups.stored_decisions(session, ctx.tenant, [e.id for e in events])
        fresh: list[BaseEvent] = []
        fresh_ids: set[str] = set()
        for event in events:
            if event.id not in seen and event.id not in fresh_ids:
                fresh.append(event)
                fresh_ids.add(event.id)
        with lock:
            decisions = engine.evaluate_many(fresh) if fresh else []
        by_id = {d.event_id: d for d in decisions}
        items = [(event, by_id.get(event.id) or seen[event.id][0]) for event in events]
        return recording.record_decisions(session, ctx, items)

    recorded = await services.in_tx(work)
    services.metrics.observe_decisions(r.decision for r in recorded if not r.duplicate)
    return recorded


@post(
    "/events",
    opt={"scope": scopes.EVENTS_WRITE},
    tags=["events"],
    summary="Decide one event and record it before answering",
    status_code=200,
)
async def post_event(request: Request[Any, Any, Any]) -> DecisionResult:
    try:
        event = decode_event(await _body(request))
    except EventError as exc:
        raise _bad_event(exc) from None
    (result,) = await _decide(request, [event])
    return DecisionResult(
        event_id=result.event_id,
        decision=result.decision,
        duplicate=result.duplicate,
        case_ids=result.case_ids,
    )


@post(
    "/events/batch",
    opt={"scope": scopes.EVENTS_WRITE},
    tags=["events"],
    summary='Decide up to 1,000 events ({"events": [...]}); one bad item does not sink the others',
    status_code=200,
)
async def post_batch(request: Request[Any, Any, Any]) -> BatchResult:
    services = services_of(request)
    limit = services.settings.engine.max_batch
    body = await _body(request)
    try:
        batch = msgspec.json.decode(body, type=_Batch)
    except msgspec.ValidationError as exc:
        raise ApiProblem(422, "invalid_batch", f'{exc}; send {{"events": [...]}}') from None
    except msgspec.DecodeError as exc:
        raise ApiProblem(400, "malformed_json", f"malformed JSON: {exc}") from None
    if not batch.events:
        raise ApiProblem(422, "invalid_batch", "the batch has no events")
    if len(batch.events) > limit:
        raise ApiProblem(
            422, "batch_too_large", f"a batch holds at most {limit} events, not {len(batch.events)}"
        )
    slots: list[BatchItem | None] = []
    good: list[tuple[int, BaseEvent]] = []
    for index, raw in enumerate(batch.events):
        try:
            event = decode_event(bytes(raw))
        except EventError as exc:
            slots.append(BatchItem(index=index, status="rejected", error=str(exc)))
            continue
        slots.append(None)
        good.append((index, event))
    recorded = await _decide(request, [e for _, e in good]) if good else []
    for (index, _), result in zip(good, recorded, strict=True):
        slots[index] = BatchItem(
            index=index,
            status="duplicate" if result.duplicate else "decided",
            event_id=result.event_id,
            decision=result.decision,
            case_ids=result.case_ids,
        )
    results = [s for s in slots if s is not None]
    rejected = sum(1 for s in results if s.status == "rejected")
    return BatchResult(accepted=len(results) - rejected, rejected=rejected, results=results)


@get(
    "/decisions/{event_id:str}",
    opt={"scope": scopes.DECISIONS_READ},
    tags=["events"],
    summary="The decision recorded for an event",
)
async def get_decision(
    request: Request[Any, Any, Any], event_id: Annotated[str, PathParameter(max_length=200)]
) -> DecisionResult:
    ctx = context_of(request)
    decision, case_ids = await services_of(request).in_tx(lookups.get_decision, ctx.tenant, event_id)
    return DecisionResult(event_id=event_id, decision=decision, case_ids=case_ids)


@post(
    "/labels",
    opt={"scope": scopes.LABELS_WRITE},
    tags=["events"],
    summary="Label an event fraud, legitimate or inconclusive (feeds detectors and training)",
    status_code=201,
)
async def post_label(request: Request[Any, Any, Any], data: JSONBody[LabelIn]) -> LabelView:
    services = services_of(request)
    ctx = context_of(request)
    view = await services.in_tx(labels.add_label, ctx, data.event_id, data.label)
    engine = services.engines.cached(ctx.tenant)
    if engine is not None and data.label in ("fraud", "legitimate"):
        with services.engines.lock(ctx.tenant):
            engine.context.set_label(data.event_id, data.label == "fraud", view.created_at)
    return view
