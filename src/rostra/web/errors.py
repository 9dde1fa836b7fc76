"""The one place that turns errors into responses: RFC 9457 problem objects, never HTML.

``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``, ``instance`` and
a stable ``code`` (``rostra.domain.errors``), plus the error's extra fields (``field``,
``retry_after``, ``current`` for a 409). Validation errors are 400 ``invalid_input`` with a
list of ``errors``; anything unexpected is a logged 500 ``internal_error`` without details.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from rostra.domain.errors import RostraError

log = logging.getLogger("rostra.web")

PROBLEM = "application/problem+json"

_HTTP_CODES = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "not_allowed",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem(
    request: Request, status: int, code: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    content = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        **extra,
    }
    headers = None
    if "retry_after" in extra:
        headers = {"Retry-After": str(extra["retry_after"])}
    return JSONResponse(jsonable_encoder(content), status_code=status, media_type=PROBLEM,
                        headers=headers)


def _rostra_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RostraError)
    return problem(request, exc.http_status, exc.code, exc.title, exc.message, **exc.extra)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        kind = str(error.get("type", "invalid"))
        if kind == "json_invalid":
            return problem(request, 400, "invalid_json", "Invalid JSON",
                           "The request body is not valid JSON")
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        errors.append(
            {"field": ".".join(location) or None, "message": str(error.get("msg", "")),
             "type": kind}
        )
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    message = str(first["message"])
    detail = f"{first['field']}: {message}" if first["field"] else message
    return problem(request, 400, "invalid_input", "Invalid input", detail, errors=errors,
                   field=first["field"])


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    if status == 400 and "pars" in str(exc.detail).lower():
        # FastAPI's "error parsing the body": e.g. bytes that are not UTF-8.
        return problem(request, 400, "invalid_json", "Invalid JSON",
                       "The request body is not valid UTF-8 JSON")
    title = {404: "Not found", 405: "Method not allowed"}.get(status, "Request failed")
    detail = str(exc.detail) if exc.detail else title
    response = problem(request, status, code, title, detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, "internal_error", "Internal server error",
                   "Something went wrong on our side; it has been logged.")


async def _statement_error(request: Request, exc: Exception) -> Response:
    """A statement that did not run because a value was refused on its way in (the storage
    types raise ``InvalidInput`` for text no database can store): answered as that error is,
    by whichever handler the app has for it (the workspace shows pages). Anything else is
    unexpected."""
    assert isinstance(exc, StatementError)
    if isinstance(exc.orig, RostraError):
        handler = request.app.exception_handlers[RostraError]
        response = handler(request, exc.orig)
        if inspect.isawaitable(response):
            response = await response
        assert isinstance(response, Response)
        return response
    return _unexpected(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RostraError, _rostra_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StatementError, _statement_error)
    app.add_exception_handler(Exception, _unexpected)
