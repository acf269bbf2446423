"""The role matrix: every /v1 route under every role answers exactly its documented status
(403 without the scope), and the matrix covers every route the app has."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Api, payment
from test_api_events import TINY_PACK
from test_api_rulepacks import BROKEN

from api.auth.scopes import ROLE_SCOPES

ROLES = tuple(ROLE_SCOPES)

# who may call what does not depend on the database: the matrix runs on SQLite only
# (every route also runs on PostgreSQL in its own suite)
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MISSING = 999999

# (method, path, json body, scope, status when the scope is there)
MATRIX: list[tuple[str, str, Any, str, int]] = [
    ("post", "/v1/events", payment("m-1"), "events:write", 200),
    ("post", "/v1/events/batch", {"events": [payment("m-2")]}, "events:write", 200),
    ("get", "/v1/decisions/nothing", None, "decisions:read", 404),
    ("post", "/v1/labels", {"event_id": "m-1", "label": "fraud"}, "labels:write", 201),
    ("get", "/v1/cases", None, "cases:read", 200),
    ("get", f"/v1/cases/{MISSING}", None, "cases:read", 404),
    ("post", f"/v1/cases/{MISSING}/claim", None, "cases:write", 404),
    ("post", f"/v1/cases/{MISSING}/assign", {"user_id": MISSING}, "cases:write", 404),
    ("post", f"/v1/cases/{MISSING}/unassign", None, "cases:write", 404),
    ("post", f"/v1/cases/{MISSING}/transition", {"to": "escalated"}, "cases:write", 404),
    ("post", f"/v1/cases/{MISSING}/resolve", {"disposition": "legitimate"}, "cases:write", 404),
    ("post", f"/v1/cases/{MISSING}/snooze", {"until": "2099-01-01T00:00:00Z"}, "cases:write", 404),
    ("post", f"/v1/cases/{MISSING}/tags", {"add": ["x"]}, "cases:write", 404),
    ("post", f"/v1/cases/{MISSING}/notes", {"body": "x"}, "cases:write", 404),
    ("put", f"/v1/cases/{MISSING}/notes/n1", {"body": "x"}, "cases:write", 404),
    ("get", "/v1/rulepacks", None, "rulepacks:read", 200),
    ("post", "/v1/rulepacks", {"source": BROKEN}, "rulepacks:write", 422),
    ("post", "/v1/rulepacks/validate", {"source": TINY_PACK}, "rulepacks:write", 200),
    ("post", "/v1/rulepacks/test", {"source": TINY_PACK}, "rulepacks:write", 200),
    ("get", "/v1/rulepacks/tiny/versions", None, "rulepacks:read", 200),
    ("get", "/v1/rulepacks/tiny/versions/1.0.0", None, "rulepacks:read", 404),
    ("get", "/v1/rulepacks/tiny/diff?from=1.0.0&to=1.1.0", None, "rulepacks:read", 404),
    ("post", "/v1/rulepacks/tiny/publish", {"version": "1.0.0"}, "rulepacks:publish", 404),
    ("post", "/v1/rulepacks/tiny/rollback", {}, "rulepacks:publish", 422),
    ("post", "/v1/lists", {"name": "blocked_ips"}, "lists:write", 201),
    ("get", "/v1/lists/nolist", None, "lists:read", 404),
    ("post", "/v1/lists/nolist/items", {"items": ["x"]}, "lists:write", 404),
    ("post", "/v1/lists/nolist/items/remove", {"items": ["x"]}, "lists:write", 404),
    ("get", "/v1/lists/nolist/history", None, "lists:read", 404),
    ("get", "/v1/reference/vehicles", None, "lists:read", 200),
    ("put", "/v1/reference/vehicles/veh1", {"id": "veh1", "tank_liters": 50}, "lists:write", 200),
    ("delete", "/v1/reference/vehicles/nokey", None, "lists:write", 404),
    ("get", "/v1/audit", None, "audit:read", 200),
    ("get", "/v1/audit/verify", None, "audit:read", 200),
    ("get", "/v1/audit/export-key", None, "audit:read", 200),
    ("get", "/v1/audit/export?format=xml", None, "audit:export", 400),
    ("get", "/v1/models/nomodel/versions", None, "models:read", 200),
    ("post", "/v1/models/nomodel/activate", {"version": "v1"}, "models:write", 404),
    ("post", "/v1/admin/clients", {"role": "integrator"}, "admin", 201),
    ("get", "/v1/admin/clients/noclient", None, "admin", 404),
    ("post", "/v1/admin/clients/noclient/rotate", None, "admin", 404),
    ("post", "/v1/admin/clients/noclient/disable", None, "admin", 404),
    ("post", "/v1/admin/clients/noclient/enable", None, "admin", 404),
    ("post", "/v1/admin/users", {"username": "someone", "roles": ["analyst"]}, "admin", 201),
    ("get", f"/v1/admin/users/{MISSING}", None, "admin", 404),
    ("put", f"/v1/admin/users/{MISSING}/roles", {"roles": ["analyst"]}, "admin", 404),
    ("post", f"/v1/admin/users/{MISSING}/deactivate", None, "admin", 404),
    ("post", f"/v1/admin/users/{MISSING}/activate", None, "admin", 404),
]


#: the path segments of MATRIX that stand for an id
_IDS = frozenset(
    {"nothing", "n1", "tiny", "1.0.0", "nolist", "vehicles", "veh1", "nokey", "noclient", "nomodel"}
)


def _template(path: str) -> str:
    parts = []
    for part in path.split("?")[0].split("/"):
        if part.isdigit() or part in _IDS:
            parts.append("{}")
        else:
            parts.append(part)
    return "/".join(parts)


def test_the_matrix_covers_every_v1_route(api: Api) -> None:
    routes = set()
    for route in api.app.routes:
        if not route.path.startswith("/v1"):
            continue
        for method in route.methods - {"OPTIONS", "HEAD"}:  # type: ignore[union-attr]
            template = "/".join("{}" if p.startswith("{") else p for p in route.path.split("/"))
            routes.add((method.lower(), template))
    covered = {(method, _template(path)) for method, path, *_ in MATRIX}
    assert routes == covered


def test_every_v1_route_declares_a_scope(api: Api) -> None:
    for route in api.app.routes:
        if route.path.startswith("/v1"):
            for handler in route.route_handlers:  # type: ignore[union-attr]
                if handler.http_methods != {"OPTIONS"}:
                    assert handler.opt.get("scope"), route.path


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(api: Api, role: str) -> None:
    headers = api.user_headers(api.user(role), role)
    for method, path, body, scope, status in MATRIX:
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        response = getattr(api.client, method)(path, **kwargs)
        expected = status if scope in ROLE_SCOPES[role] else 403
        assert response.status_code == expected, (role, method, path, response.text)
        if expected >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
