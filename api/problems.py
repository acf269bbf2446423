"""RFC 9457 problem details for every error the API answers.

Domain errors from ``casework.errors`` map to statuses by class; Litestar's own
errors (validation, auth, not found, method) keep their status; anything else is a
500 whose body says nothing about the internals (the log has the traceback).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DataError

from api.observability import request_id_of
from casework.errors import (
    CaseworkError,
    Conflict,
    ExportError,
    InvalidInput,
    InvalidTransition,
    NotFound,
)

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("vigil.api")


class ProblemError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One precise complaint about the input: where (a JSON path or field) and what."""

    message: str
    location: str | None = None
    index: int | None = None


class Problem(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemError] | None = None


class ApiProblem(Exception):
    """Raised by routes for an HTTP-level problem that is not a domain error."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: list[ProblemError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


_DOMAIN_STATUS: dict[type[CaseworkError], int] = {
    NotFound: 404,
    InvalidTransition: 409,
    Conflict: 409,
    InvalidInput: 422,
    ExportError: 422,
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem_type(code: str) -> str:
    return f"https://vigil.dev/problems/{code.replace('_', '-')}"


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str | None,
    errors: list[ProblemError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    body = Problem(
        type=problem_type(code),
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request.scope),
        errors=errors,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(extra: Any) -> list[ProblemError]:
    errors: list[ProblemError] = []
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict):
                errors.append(
                    ProblemError(
                        message=str(item.get("message", "invalid value")),
                        location=str(item["key"]) if item.get("key") is not None else item.get("source"),
                    )
                )
    return errors


def on_api_problem(request: Request[Any, Any, Any], exc: ApiProblem) -> Response[Problem]:
    return problem_response(request, exc.status, exc.code, exc.detail, exc.errors, exc.headers)


def on_domain_error(request: Request[Any, Any, Any], exc: CaseworkError) -> Response[Problem]:
    status = next((s for cls, s in _DOMAIN_STATUS.items() if isinstance(exc, cls)), 422)
    return problem_response(request, status, exc.code, str(exc))


def on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return problem_response(
            request, 400, "validation_error", exc.detail, _validation_errors(exc.extra) or None
        )
    code = {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media_type",
        429: "rate_limited",
    }.get(status, "http_error")
    headers = dict(exc.headers or {})
    if status >= 500:
        _log.error("http error %s: %s", status, exc.detail)
    return problem_response(request, status, code, exc.detail, headers=headers or None)


def on_data_error(request: Request[Any, Any, Any], exc: DataError) -> Response[Problem]:
    """A value the database refuses (a NUL character, a number out of range): the input's fault."""
    _log.info("store refused a value: %s", exc.orig)
    return problem_response(
        request,
        422,
        "invalid_value",
        "a value in the request cannot be stored (out of range or a NUL character)",
    )


def on_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """A backing service (Redis) does not answer: retry later, nothing was decided."""
    _log.error("backing service unavailable: %s", exc)
    return problem_response(
        request,
        503,
        "unavailable",
        "a backing service is unavailable; retry later",
        headers={"Retry-After": "5"},
    )


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    _log.exception("unhandled error", exc_info=exc)
    return problem_response(
        request, 500, "internal_error", "an unexpected error occurred; see the server log"
    )
