"""What Litestar cannot infer for the OpenAPI document: the event bodies (the event routes
read raw JSON so that a bad item gets its own error) and the problem responses of every route."""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, Reference, RequestBody, Schema
from litestar.routes import HTTPRoute

from api.problems import PROBLEM_JSON, Problem
from engine.events import Event

_PROBLEMS = {
    400: "Malformed JSON or a body or parameter of the wrong shape",
    401: "No token, or a bad, expired or revoked one",
    403: "The token lacks the route's scope",
    404: "No such object in the token's tenant",
    409: "A conflict with the object's current state",
    422: "A well-formed request that breaks the schema or a domain rule",
    429: "Rate limited; see Retry-After",
}


class _BatchBody(msgspec.Struct):
    #: 1 to 1,000 events; each is decided or rejected on its own
    events: list[Event]


def add_problem_responses(handlers: list[Any]) -> None:
    """Every /v1 route may answer these problems (before the app builds its schema)."""
    for handler in handlers:
        specs = {
            status: ResponseSpec(data_container=Problem, description=text, media_type=PROBLEM_JSON)
            for status, text in _PROBLEMS.items()
        }
        handler.responses = {**specs, **(handler.responses or {})}


#: the document, built once per process: every app here has the same routes, and building
#: it costs more than the rest of create_app
_BUILT: list[OpenAPI] = []


def document_event_bodies(app: Litestar) -> None:
    """Describe the raw JSON bodies of the event routes with the events' own msgspec schemas."""
    plugin = app.plugins.get(OpenAPIPlugin)
    if _BUILT:
        plugin._openapi = _BUILT[0]
        return
    schema = app.openapi_schema
    _BUILT.append(schema)
    (event_ref, batch_ref), components = msgspec.json.schema_components(
        [Event, _BatchBody], ref_template="#/components/schemas/{name}"
    )
    if schema.components.schemas is None:
        schema.components.schemas = {}
    for name, component in components.items():
        schema.components.schemas.setdefault(name, cast(Schema, component))
    bodies = {"/v1/events": event_ref, "/v1/events/batch": batch_ref}
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path in bodies and schema.paths:
            item = schema.paths.get(route.path)
            if item is not None and item.post is not None:
                item.post.request_body = RequestBody(
                    required=True,
                    content={
                        "application/json": OpenAPIMediaType(schema=cast(Reference, bodies[route.path]))
                    },
                )
