"""Link analysis: ``ring_size(key)``, accounts tied together by shared devices, cards or IPs.

Each event links its key (the account: ``ring_size(event.user_id)``) to the
event's ``device_id``, ``card_id`` and ``ip`` where the kind has them. A union-find
over every link seen so far (in arrival order, as the detector list says) gives
the connected groups; ``ring_size`` is the number of accounts in the key's group,
the key itself included (1 for an account that shares nothing), counting the
current event's links as if already made: a new account logging in from a device
five other accounts used has a ring of 6.

Devices, cards and IPs are separate name spaces, and separate from keys, so a
card id equal to a device id links nothing. Links unused for the retention
(``common.HISTORY_TTL``) are dropped: the union-find is rebuilt from the live
links every sixteenth of the retention in event time, which keeps memory bounded
at amortised O(1) per event.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from dsl.types import KEY, NUMBER, FunctionSig, Param
from engine.detectors.base import Detector, StateFamily
from engine.detectors.common import HISTORY_TTL, kinds_with

#: the link fields, in the order the family records them, with their name spaces
LINK_FIELDS = (("device_id", "d"), ("card_id", "c"), ("ip", "i"))
LINK_KINDS = kinds_with(*(f for f, _ in LINK_FIELDS), any_of=True)
_encode = msgspec.msgpack.Encoder().encode
_decode_graph = msgspec.msgpack.Decoder(tuple[float, float, dict[Any, float]]).decode


class UnionFind:
    """Disjoint sets of nodes, each root knowing how many accounts its set holds."""

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}
        self.size: dict[Any, int] = {}
        self.accounts: dict[Any, int] = {}

    def add(self, node: Any, account: bool) -> None:
        if node not in self.parent:
            self.parent[node] = node
            self.size[node] = 1
            self.accounts[node] = 1 if account else 0

    def find(self, node: Any) -> Any:
        parent = self.parent
        while (up := parent[node]) != node:
            grand = parent[up]
            parent[node] = grand  # path halving
            node = grand
        return node

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size.pop(rb)
        self.accounts[ra] += self.accounts.pop(rb)

    def __len__(self) -> int:
        return len(self.parent)


def ring_of(uf: UnionFind, account: Any, links: tuple[Any, ...]) -> int:
    """Accounts in the group of ``account`` once it is linked to ``links`` (read only)."""
    parent, find, accounts = uf.parent, uf.find, uf.accounts
    if account in parent:
        root = find(account)
        total, seen = accounts[root], [root]
    else:
        total, seen = 1, []
    for node in links:
        if node in parent:
            root = find(node)
            if root not in seen:
                seen.append(root)
                total += accounts[root]
    return total


def link_nodes(device: Any, card: Any, ip: Any) -> tuple[Any, ...]:
    """The link nodes of an event, each in its own name space."""
    nodes: tuple[Any, ...] = ()
    if device is not None:
        nodes += (("d", device),)
    if card is not None:
        nodes += (("c", card),)
    if ip is not None:
        nodes += (("i", ip),)
    return nodes


def _split(inputs: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    padded = (*inputs, None, None, None)
    return padded[0], padded[1], padded[2]


class LinkGraph(StateFamily):
    """Accounts and the devices, cards and IPs they used, as a union-find."""

    inputs = tuple((f,) for f, _ in LINK_FIELDS)

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.uf = UnionFind()
        #: (account node, link node or None) -> newest event time using it
        self.edges: dict[tuple[Any, Any], float] = {}
        self.latest = -math.inf
        self.built = -math.inf

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        if key is None:
            return
        account = ("a", key)
        edges = self.edges
        for node in link_nodes(*_split(inputs)) or (None,):
            edge = (account, node)
            seen = edges.get(edge)
            if seen is None:
                edges[edge] = ts
                uf = self.uf
                uf.add(account, True)
                if node is not None:
                    uf.add(node, False)
                    uf.union(account, node)
            elif ts > seen:
                edges[edge] = ts
        if ts > self.latest:
            self.latest = ts
            if self.built == -math.inf:
                self.built = ts
            elif ts - self.built >= self.retention / 16:
                self.rebuild()

    def rebuild(self) -> None:
        """Drop links unused for the retention and rebuild the groups from the others."""
        cutoff = self.latest - self.retention
        self.edges = {edge: ts for edge, ts in self.edges.items() if ts > cutoff}
        uf = UnionFind()
        for account, node in self.edges:
            uf.add(account, True)
            if node is not None:
                uf.add(node, False)
                uf.union(account, node)
        self.uf = uf
        self.built = self.latest

    def entity_count(self) -> int:
        return len(self.uf)

    sharing = "global"

    def export_all(self) -> bytes:
        return _encode((self.latest, self.built, self.edges))

    def import_all(self, data: bytes | None) -> None:
        """Load the links; the groups are rebuilt from them (the same groups, other roots)."""
        self.reset()
        if data is None:
            return
        # msgpack arrays in map keys decode as tuples, nested ones too
        self.latest, self.built, self.edges = _decode_graph(data)
        uf = self.uf
        for account, link in self.edges:
            uf.add(account, True)
            if link is not None:
                uf.add(link, False)
                uf.union(account, link)


class RingSize(Detector):
    sig = FunctionSig(
        "ring_size",
        (Param("key", KEY),),
        NUMBER,
        kinds=LINK_KINDS,
        stateful=True,
        inputs=LinkGraph.inputs,
        doc="accounts connected to this key through shared devices, cards or IPs (itself included)",
    )
    family = LinkGraph

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return HISTORY_TTL

    @classmethod
    def query(cls, state: LinkGraph, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        return ring_of(state.uf, ("a", key), link_nodes(*_split(args)))
