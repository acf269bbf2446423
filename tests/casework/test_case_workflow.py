"""Working cases: transitions, resolution with labels, reopen, snooze, priority, tags, notes,
assignment, the timeline and the queue page."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager

import pytest
import sqlalchemy as sa
from casework_factories import T0, decision, open_case, payment
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from casework import assignment, audit, case_actions, case_queries, notes, outbox, queues
from casework.case_queries import CaseFilter
from casework.context import Actor, Context
from casework.db import transaction
from casework.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from casework.models import Label
from casework.recording import record_decisions
from casework.sla import SlaPolicy
from casework.tenants import create_tenant, create_user, set_active

ADMIN = Actor("user", "0")


class World:
    """Two investigators, one case with three events in queue ``cards``."""

    def __init__(self, engine: Engine, tenant: str) -> None:
        self.engine = engine
        self.tenant = tenant
        with transaction(engine) as session:
            ctx = self.ctx(ADMIN)
            self.ann = create_user(session, ctx, "ann", ["investigator"]).id
            self.bob = create_user(session, ctx, "bob", ["investigator"]).id
            items = [(payment(f"e{i}"), decision(f"e{i}", case=open_case())) for i in range(3)]
            self.case_id = record_decisions(session, ctx, items)[0].case_ids[0]

    def ctx(self, actor: Actor | int, minutes: int = 0) -> Context:
        who = Actor("user", str(actor)) if isinstance(actor, int) else actor
        return Context(self.tenant, who, request_id="r", now=T0 + dt.timedelta(minutes=minutes))

    def session(self) -> AbstractContextManager[Session]:
        return transaction(self.engine)


@pytest.fixture
def world(engine: Engine, tenant: str) -> World:
    return World(engine, tenant)


def actions(session: Session, world: World) -> list[str]:
    return [t.action for t in case_queries.timeline(session, world.tenant, world.case_id)]


def test_full_lifecycle_with_labels(world: World) -> None:
    with world.session() as s:
        case = assignment.claim(s, world.ctx(world.ann, 1), world.case_id)
        assert (case.status, case.assignee_id) == ("investigating", world.ann)
        case = case_actions.transition(s, world.ctx(world.ann, 2), world.case_id, "escalated", reason="big")
        assert case.status == "escalated"
        case = case_actions.resolve(s, world.ctx(world.ann, 3), world.case_id, "fraud_confirmed")
        assert (case.status, case.disposition, case.resolved_at) == (
            "resolved",
            "fraud_confirmed",
            T0 + dt.timedelta(minutes=3),
        )
    with world.session() as s:
        labels = s.execute(
            sa.select(Label.event_id, Label.label, Label.source, Label.case_id).order_by(Label.event_id)
        ).all()
        assert [tuple(r) for r in labels] == [(f"e{i}", "fraud", "case", world.case_id) for i in range(3)]
        assert actions(s, world) == ["opened", "claimed", "escalated", "resolved"]
        tl = case_queries.timeline(s, world.tenant, world.case_id)
        assert tl[2].changes == {"status": ["investigating", "escalated"], "reason": [None, "big"]}
        assert tl[2].actor == f"user:{world.ann}" and tl[2].at == T0 + dt.timedelta(minutes=2)
        topics = [m.topic for m in outbox.pending(s, world.tenant, limit=500)]
        assert {"case.assigned", "case.resolved"} <= set(topics)
        assert audit.verify(s, world.tenant).ok
        audit_actions = [e["action"] for e in audit.entries(s, world.tenant)]
        assert audit_actions[-4:] == ["case.claimed", "case.escalated", "case.resolved", "labels.written"]


def test_reopen_clears_disposition_and_restarts_sla(world: World) -> None:
    with world.session() as s:
        case_actions.resolve(s, world.ctx(world.ann, 1), world.case_id, "legitimate")
        case = case_actions.reopen(s, world.ctx(world.ann, 60), world.case_id, reason="new evidence")
    assert (case.status, case.disposition, case.resolved_at) == ("open", None, None)
    assert case.sla_due_at == T0 + dt.timedelta(minutes=60 + 24 * 60)
    with world.session() as s:
        case = case_actions.resolve(s, world.ctx(world.ann, 70), world.case_id, "fraud_confirmed")
        labels = (
            s.execute(sa.select(Label.label).where(Label.event_id == "e0").order_by(Label.id)).scalars().all()
        )
    assert labels == ["legitimate", "fraud"]


def test_invalid_transitions_are_refused_and_write_nothing(world: World) -> None:
    with world.session() as s:
        case_actions.resolve(s, world.ctx(world.ann), world.case_id, "inconclusive")
    with (
        pytest.raises(InvalidTransition, match="cannot move a case from resolved to escalated"),
        world.session() as s,
    ):
        case_actions.transition(s, world.ctx(world.ann), world.case_id, "escalated")
    with (
        pytest.raises(InvalidTransition, match="cannot claim a resolved case; reopen it first"),
        world.session() as s,
    ):
        assignment.claim(s, world.ctx(world.ann), world.case_id)
    with pytest.raises(InvalidTransition, match="resolving needs a disposition"), world.session() as s:
        case_actions.reopen(s, world.ctx(world.ann), world.case_id)
        case_actions.transition(s, world.ctx(world.ann), world.case_id, "resolved")
    with world.session() as s:
        assert case_queries.get_case(s, world.tenant, world.case_id).status == "resolved"
    with pytest.raises(InvalidInput, match="unknown case status 'closed'"), world.session() as s:
        case_actions.transition(s, world.ctx(world.ann), world.case_id, "closed")


def test_claim_conflicts_and_assignment(world: World) -> None:
    with world.session() as s:
        assignment.claim(s, world.ctx(world.ann), world.case_id)
    with pytest.raises(Conflict, match=f"already assigned to user {world.ann}"), world.session() as s:
        assignment.claim(s, world.ctx(world.bob), world.case_id)
    with pytest.raises(InvalidInput, match="only a person"), world.session() as s:
        assignment.claim(s, world.ctx(Actor("client", "x")), world.case_id)
    with world.session() as s:
        case = assignment.assign(s, world.ctx(ADMIN, 1), world.case_id, world.bob)
        assert case.assignee_id == world.bob
        case = assignment.unassign(s, world.ctx(ADMIN, 2), world.case_id)
        assert case.assignee_id is None and case.status == "investigating"
        assert actions(s, world)[-3:] == ["claimed", "assigned", "unassigned"]
    with pytest.raises(InvalidInput, match="is not assigned"), world.session() as s:
        assignment.unassign(s, world.ctx(ADMIN), world.case_id)
    with pytest.raises(NotFound, match="user 999 not found"), world.session() as s:
        assignment.assign(s, world.ctx(ADMIN), world.case_id, 999)
    with world.session() as s:
        set_active(s, world.ctx(ADMIN), world.bob, False)
    with pytest.raises(InvalidInput, match="deactivated"), world.session() as s:
        assignment.assign(s, world.ctx(ADMIN), world.case_id, world.bob)


def test_auto_assign_picks_the_least_loaded_member(world: World) -> None:
    with world.session() as s:
        ctx = world.ctx(ADMIN)
        items = [
            (payment(f"k{i}", card=f"c{i}"), decision(f"k{i}", case=open_case(f"c{i}"))) for i in range(3)
        ]
        others = [r.case_ids[0] for r in record_decisions(s, ctx, items)]
    with pytest.raises(InvalidInput, match="queue 'cards' has no active members"), world.session() as s:
        assignment.auto_assign(s, world.ctx(ADMIN), world.case_id)
    with world.session() as s:
        queues.configure_queue(s, world.ctx(ADMIN), "cards")
        queues.add_member(s, world.ctx(ADMIN), "cards", world.ann)
        queues.add_member(s, world.ctx(ADMIN), "cards", world.bob)
        assignment.assign(s, world.ctx(ADMIN), others[0], world.ann)
        assignment.assign(s, world.ctx(ADMIN), others[1], world.ann)
        assignment.assign(s, world.ctx(ADMIN), others[2], world.bob)
        case = assignment.auto_assign(s, world.ctx(ADMIN), world.case_id)
        assert case.assignee_id == world.bob  # ann holds 2, bob 1
        case_actions.resolve(s, world.ctx(ADMIN), others[0], "legitimate")
        case_actions.resolve(s, world.ctx(ADMIN), others[1], "legitimate")
        assignment.unassign(s, world.ctx(ADMIN), world.case_id)
        case = assignment.auto_assign(s, world.ctx(ADMIN), world.case_id)
        assert case.assignee_id == world.ann  # ann now 0 open, bob 1
        assert queues.get_queue(s, world.tenant, "cards").member_ids == (world.ann, world.bob)


def test_queue_sla_policy_applies_to_new_cases(engine: Engine, tenant: str) -> None:
    policy = SlaPolicy(
        severity_minutes={"critical": 5, "high": 10, "medium": 20, "low": 30},
        priority_factor={"urgent": 1, "high": 1, "normal": 1, "low": 1},
    )
    with transaction(engine) as s:
        ctx = Context(tenant, ADMIN, now=T0)
        queues.configure_queue(s, ctx, "fleet", policy)
        result = record_decisions(
            s, ctx, [(payment("f1"), decision("f1", case=open_case(queue="fleet", severity="high")))]
        )
        case = case_queries.get_case(s, tenant, result[0].case_ids[0])
    assert case.sla_due_at == T0 + dt.timedelta(minutes=10)


def test_snooze_hides_from_the_queue_until_due(world: World) -> None:
    with pytest.raises(InvalidInput, match="in the future"), world.session() as s:
        case_actions.snooze(s, world.ctx(world.ann, 10), world.case_id, T0)
    with world.session() as s:
        case_actions.snooze(s, world.ctx(world.ann), world.case_id, T0 + dt.timedelta(hours=2))
        assert case_queries.list_cases(s, world.tenant, now=T0 + dt.timedelta(hours=1)).items == ()
        shown = case_queries.list_cases(s, world.tenant, now=T0 + dt.timedelta(hours=3)).items
        assert [c.id for c in shown] == [world.case_id]
        snoozed = case_queries.list_cases(s, world.tenant, CaseFilter(include_snoozed=True), now=T0).items
        assert len(snoozed) == 1
        case = case_actions.unsnooze(s, world.ctx(world.ann), world.case_id)
        assert case.snoozed_until is None


def test_priority_change_recomputes_sla_from_opening(world: World) -> None:
    with world.session() as s:
        case = case_actions.set_priority(s, world.ctx(world.ann, 30), world.case_id, "urgent")
    assert case.priority == "urgent"
    assert case.sla_due_at == T0 + dt.timedelta(hours=6)


def test_tags(world: World) -> None:
    with world.session() as s:
        case = case_actions.add_tags(s, world.ctx(world.ann), world.case_id, ["Mule", "atm", "atm"])
        assert case.tags == ("atm", "mule")
        case = case_actions.remove_tags(s, world.ctx(world.ann), world.case_id, ["atm", "nope"])
        assert case.tags == ("mule",)
        page = case_queries.list_cases(s, world.tenant, CaseFilter(tag="mule"), now=T0)
        assert [c.id for c in page.items] == [world.case_id] and page.items[0].tags == ("mule",)
        assert case_queries.list_cases(s, world.tenant, CaseFilter(tag="atm"), now=T0).items == ()
    with pytest.raises(InvalidInput, match="tags are 1 to 100 characters"), world.session() as s:
        case_actions.add_tags(s, world.ctx(world.ann), world.case_id, [" "])


def test_notes_are_append_only_versions(world: World) -> None:
    with world.session() as s:
        first = notes.add_note(s, world.ctx(world.ann, 1), world.case_id, "called the cardholder")
        other = notes.add_note(s, world.ctx(world.bob, 2), world.case_id, "second note")
        edited = notes.edit_note(
            s, world.ctx(world.ann, 3), world.case_id, first.note_id, "called the cardholder: no answer"
        )
        assert (edited.note_id, edited.version) == (first.note_id, 2)
        current = notes.notes(s, world.tenant, world.case_id)
        assert [(n.note_id, n.version, n.body) for n in current] == [
            (first.note_id, 2, "called the cardholder: no answer"),
            (other.note_id, 1, "second note"),
        ]
        history = notes.history(s, world.tenant, world.case_id, first.note_id)
        assert [n.body for n in history] == ["called the cardholder", "called the cardholder: no answer"]
        assert actions(s, world)[-3:] == ["noted", "noted", "note_edited"]
    with pytest.raises(InvalidInput, match="cannot be empty"), world.session() as s:
        notes.add_note(s, world.ctx(world.ann), world.case_id, "  ")
    with pytest.raises(NotFound, match="note nope not found"), world.session() as s:
        notes.edit_note(s, world.ctx(world.ann), world.case_id, "nope", "x")


def test_case_detail_has_events_hits_timeline_notes(world: World) -> None:
    with world.session() as s:
        notes.add_note(s, world.ctx(world.ann), world.case_id, "hello")
        detail = case_queries.case_detail(s, world.tenant, world.case_id)
    assert [e.event_id for e in detail.events] == ["e0", "e1", "e2"]
    assert detail.events[0].hits[0].rule == "big_amount"
    assert detail.events[0].hits[0].explanation == ("amount 120 > 100",)
    assert detail.events[0].payload["card_id"] == "card-1"
    assert [t.action for t in detail.timeline] == ["opened", "noted"]
    assert [n.body for n in detail.notes] == ["hello"]


def test_other_tenants_cases_are_not_found(world: World) -> None:
    with world.session() as s:
        create_tenant(s, Context("globex"), "Globex")
    other = Context("globex", ADMIN, now=T0)
    calls = [
        lambda s: case_queries.get_case(s, "globex", world.case_id),
        lambda s: case_actions.transition(s, other, world.case_id, "escalated"),
        lambda s: notes.add_note(s, other, world.case_id, "x"),
        lambda s: assignment.unassign(s, other, world.case_id),
        lambda s: case_actions.add_tags(s, other, world.case_id, ["x"]),
    ]
    for call in calls:
        with pytest.raises(NotFound, match=f"case {world.case_id} not found"), world.session() as s:
            call(s)
    with world.session() as s:
        assert case_queries.list_cases(s, "globex", now=T0).items == ()


def test_queue_page_filters_orders_and_paginates(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        ctx = Context(tenant, ADMIN, now=T0)
        ann = create_user(s, ctx, "ann", ["investigator"]).id
        priorities = ["low", "normal", "high", "urgent"]
        items = [
            (
                payment(f"p{i}", card=f"c{i}"),
                decision(
                    f"p{i}",
                    case=open_case(f"c{i}", queue="cards" if i % 2 else "ato", priority=priorities[i % 4]),
                ),
            )
            for i in range(20)
        ]
        ids = {r.event_id: r.case_ids[0] for r in record_decisions(s, ctx, items)}
        assignment.assign(s, ctx, ids["p1"], ann)
        assignment.assign(s, ctx, ids["p3"], ann)
    with transaction(engine) as s:
        page = case_queries.list_cases(s, tenant, CaseFilter(queue="cards"), now=T0, limit=3)
        seen = list(page.items)
        while page.next_cursor:
            page = case_queries.list_cases(
                s, tenant, CaseFilter(queue="cards"), now=T0, limit=3, after=page.next_cursor
            )
            seen += page.items
        assert len(seen) == 10 and all(c.queue == "cards" for c in seen)
        assert [(c.sla_due_at, c.id) for c in seen] == sorted((c.sla_due_at, c.id) for c in seen)
        assert seen[0].priority == "urgent"
        mine = case_queries.list_cases(
            s, tenant, CaseFilter(assignee=ann, statuses=("investigating",)), now=T0
        )
        assert sorted(c.id for c in mine.items) == sorted([ids["p1"], ids["p3"]])
        free = case_queries.list_cases(
            s, tenant, CaseFilter(queue="cards", assignee="unassigned"), now=T0, limit=100
        )
        assert len(free.items) == 8
        urgent = case_queries.list_cases(s, tenant, CaseFilter(priority="urgent"), now=T0, limit=100)
        assert {c.priority for c in urgent.items} == {"urgent"} and len(urgent.items) == 5
    with pytest.raises(InvalidInput, match="invalid cursor"), transaction(engine) as s:
        case_queries.list_cases(s, tenant, after="garbage")
