"""The gateway's one error shape: ``{"error": {"code": "<stable_code>", "message": "..."}}``.

Codes are part of the API contract (docs/api.md): clients branch on them, so they never
change meaning. Every failure leaves through here: routes raise :class:`ApiError`, the
store's refusals and FastAPI's own validation errors are translated, and anything
unexpected becomes ``500 internal_error`` without its details (they go to the log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from errand.store import (
    AlreadyAnswered,
    AlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    DigestMismatch,
    InvalidPayload,
    InvalidTransition,
    QuestionNotFound,
    StoreError,
    StoreFull,
    TaskNotFound,
)

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    421: "misdirected_request",
    422: "invalid_request",
    429: "too_many_requests",
    507: "insufficient_storage",
}


class ApiError(Exception):
    """A refusal the client should see: HTTP ``status``, stable ``code``, one sentence."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON response for one error."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def store_error(exc: StoreError) -> ApiError:
    """Translate a store refusal into the API's code for it (most specific class first)."""
    match exc:
        case TaskNotFound():
            return ApiError(404, "task_not_found", "There is no such task.")
        case ApprovalNotFound():
            return ApiError(404, "approval_not_found", "There is no such approval.")
        case QuestionNotFound():
            return ApiError(404, "question_not_found", "There is no such question.")
        case ApprovalExpired():
            return ApiError(410, "approval_expired", "This approval expired before an answer.")
        case AlreadyDecided():
            return ApiError(409, "already_decided", "This approval was already decided.")
        case DigestMismatch():
            return ApiError(
                409, "digest_mismatch", "The action changed since it was shown; look again."
            )
        case AlreadyAnswered():
            return ApiError(409, "already_answered", "This question was already answered.")
        case InvalidTransition():
            return ApiError(409, "invalid_state", "The task cannot do that in its current state.")
        case InvalidPayload():
            return ApiError(422, "invalid_request", str(exc))
        case StoreFull():
            return ApiError(
                507,
                "insufficient_storage",
                "The disk of the computer running Errand is full; free some space and retry.",
            )
        case _:
            return ApiError(503, "store_unavailable", "Errand's store cannot answer right now.")


def install_error_handlers(app: FastAPI) -> None:
    """Make every failure of ``app`` answer in the one error shape."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StoreError)
        api = store_error(exc)
        return error_response(api.status, api.code, api.message)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "invalid_request", _first_problem(exc))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else "The request was refused."
        return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "Errand failed unexpectedly; see its log.")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StoreError, on_store_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _first_problem(exc: RequestValidationError) -> str:
    problems = exc.errors()
    if not problems:
        return "The request is malformed."
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
