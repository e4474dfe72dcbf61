"""Every failure a client can cause is a 4xx with one line in `detail`, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from searchapp.errors import (
    DamagedLibraryError,
    DatabaseUnavailableError,
    IndexerBusyError,
    InvalidImageError,
    InvalidQueryError,
    LibraryEmptyError,
    ModelMismatchError,
    ModelNotFoundError,
    PhotoNotFoundError,
    ReadOnlyLibraryError,
    SearchAppError,
    VectorBackendError,
    VlmError,
    VlmTimeoutError,
    WeightsUnavailableError,
)

log = logging.getLogger(__name__)

STATUS_OF: tuple[tuple[type[SearchAppError], int], ...] = (
    (PhotoNotFoundError, 404),
    (InvalidQueryError, 400),
    (InvalidImageError, 422),
    (LibraryEmptyError, 409),
    (ModelMismatchError, 409),
    (IndexerBusyError, 409),
    (ReadOnlyLibraryError, 409),
    (ModelNotFoundError, 503),
    (WeightsUnavailableError, 503),
    (DamagedLibraryError, 503),
    (DatabaseUnavailableError, 503),
    (VectorBackendError, 503),
    (VlmTimeoutError, 504),
    (VlmError, 503),
)


def status_of(exc: SearchAppError) -> int:
    for kind, status in STATUS_OF:
        if isinstance(exc, kind):
            return status
    return 400


def _location(loc: tuple[object, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def validation_message(exc: RequestValidationError) -> str:
    """One line for the first problem (all of them are in `errors`)."""
    errors = exc.errors()
    if not errors:
        return "The request is not valid."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return f"The request body is not valid JSON: {first.get('ctx', {}).get('error', '')}"
    where = _location(tuple(first.get("loc", ())))
    return f"{where}: {first.get('msg', 'invalid value')}"


def install_error_handlers(app: FastAPI) -> None:
    async def on_searchapp_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SearchAppError)
        return JSONResponse({"detail": str(exc)}, status_code=status_of(exc))

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": validation_message(exc), "errors": errors}, status_code=422)

    async def on_lost_database(request: Request, exc: Exception) -> JSONResponse:
        """PostgreSQL gone mid-request (after the pool's retries): 503, one line."""
        from searchapp.store.postgres import is_disconnect

        if not is_disconnect(exc):
            log.error("database error: %s", exc)
            return JSONResponse({"detail": "Internal database error."}, status_code=500)
        detail = str(getattr(exc, "orig", exc)).strip().splitlines() or ["connection lost"]
        return JSONResponse(
            {"detail": f"The metadata database is unreachable ({detail[-1]}); try again shortly."},
            status_code=503,
        )

    app.add_exception_handler(SearchAppError, on_searchapp_error)
    app.add_exception_handler(OperationalError, on_lost_database)
    app.add_exception_handler(RequestValidationError, on_validation_error)
