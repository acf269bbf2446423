"""Property-based run over the OpenAPI document: every operation, with generated (valid and
invalid) input, answers no 500 and nothing that breaks its documented schema.

Bounded: a few examples per operation on SQLite, so it stays a few seconds of `make test`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from conftest import TENANT, make_settings
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from api.app import VigilApp, create_app
from api.auth.scopes import ALL_SCOPES
from api.bootstrap import create_tenant
from casework import migrate
from casework.context import Context
from casework.db import create_engine, transaction
from casework.tenants import create_user


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilApp]:
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'vigil.sqlite3'}"
    db = create_engine(url)
    migrate.upgrade(db)
    create_tenant(db, TENANT, "Acme")
    db.dispose()
    yield create_app(make_settings(url, folder / "key.pem"))


@pytest.fixture(scope="module")
def api_schema(fuzz_app: VigilApp) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/schema/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def bearer(fuzz_app: VigilApp) -> dict[str, str]:
    # one token with every scope, so generated calls reach every route's own validation
    with transaction(fuzz_app.services.db) as session:
        user = create_user(session, Context(TENANT), "fuzzer", ["admin"]).id
    token, _ = fuzz_app.services.tokens.issue(
        tenant=TENANT, subject=f"user:{user}", role="admin", scopes=ALL_SCOPES
    )
    return {"Authorization": f"Bearer {token}"}


def test_no_500_and_responses_match_the_schema(
    api_schema: schemathesis.BaseSchema, bearer: dict[str, str], fuzz_app: VigilApp
) -> None:
    # schemathesis' pytest plugin does not run under this pytest; drive its strategies directly
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/schema") or operation.path == "/metrics":
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "5")),
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def run(case: schemathesis.Case) -> None:
            # the document's bearer scheme makes schemathesis send a token of its own: use ours
            case.headers = {**(case.headers or {}), **bearer}
            case.call_and_validate(checks=checks)

        run()
    assert operations >= 40
    # the calls got past authentication: the answers are the routes' own
    statuses: dict[str, float] = {}
    for metric in fuzz_app.services.metrics.requests.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                statuses[sample.labels["status"]] = statuses.get(sample.labels["status"], 0) + sample.value
    assert statuses.get("401", 0) == 0 and statuses.get("403", 0) == 0, statuses
    assert statuses.get("200", 0) > 0, statuses
