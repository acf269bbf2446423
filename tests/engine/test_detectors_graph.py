"""ring_size: accounts linked by shared devices, cards and IPs."""

from __future__ import annotations

from test_detectors_harness import Probe, ev, pack_error

from engine.detectors.graph import LinkGraph, RingSize, UnionFind, ring_of


def pay(at: float, user: str | None, **links: object) -> object:
    return ev("payment", at, user_id=user, **links)


def test_ring_grows_through_shared_devices_cards_and_ips() -> None:
    probe = Probe("ring_size(event.user_id)")
    values = probe.run(
        pay(0, "u1", device_id="d1"),
        pay(60, "u2", device_id="d1"),  # shares d1 with u1; its own link counts already
        pay(120, "u3", card_id="c9"),
        pay(180, "u3", device_id="d1"),  # joins the u1-u2 ring
        pay(240, "u4", ip="198.51.100.7"),
        pay(300, "u2", ip="198.51.100.7"),  # u2's ring takes in u4
        pay(360, "u5", card_id="c9"),  # via u3's card
    )
    assert values == [1, 2, 1, 3, 1, 4, 5]


def test_ring_of_an_account_without_links_and_null_key() -> None:
    probe = Probe("ring_size(event.user_id)")
    assert probe.run(pay(0, "u1"), pay(60, None, device_id="d1"), pay(120, "u2", device_id="d1")) == [
        1,
        None,
        1,
    ]


def test_link_kinds_are_separate_name_spaces() -> None:
    probe = Probe("ring_size(event.user_id)")
    probe.run(pay(0, "u1", device_id="x"))
    assert probe.one(pay(60, "u2", card_id="x")) == 1
    assert probe.one(pay(120, "x", device_id="y")) == 1  # an account named like a device


def test_ring_on_login_events_links_devices_and_ips() -> None:
    probe = Probe("ring_size(event.user_id)", on="login")
    probe.run(ev("login", 0, user_id="u1", ip="203.0.113.1"))
    assert probe.one(ev("login", 60, user_id="u2", ip="203.0.113.1")) == 2


def test_union_find_counts_accounts_per_group() -> None:
    uf = UnionFind()
    for node, account in [("a1", True), ("a2", True), ("d", False), ("a3", True)]:
        uf.add(node, account)
    uf.union("a1", "d")
    uf.union("d", "a2")
    assert ring_of(uf, "a1", ()) == 2
    assert ring_of(uf, "a3", ("d",)) == 3
    assert ring_of(uf, "new", ("d",)) == 3
    assert len(uf) == 4


def test_links_unused_for_the_retention_are_dropped() -> None:
    state = LinkGraph(retention=1600.0)  # rebuilt every 100 s of event time
    state.observe("u1", 0.0, "d1", None, None)
    state.observe("u2", 10.0, "d1", None, None)
    assert RingSize.query(state, {}, "u3", 20.0, "d1", None, None) == 3
    state.observe("u9", 1700.0, None, None, None)  # 1700 - 1600 = 100: both links are older
    assert RingSize.query(state, {}, "u3", 1710.0, "d1", None, None) == 1
    assert state.entity_count() == 1


def test_ring_size_diagnostics() -> None:
    assert "cannot serve vehicle_position events" in pack_error(
        "ring_size(event.vehicle_id) > 2", on="vehicle_position"
    )
    assert "ring_size() needs 1 argument" in pack_error("ring_size() > 2")
