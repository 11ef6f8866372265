"""Every error the API returns is one line of JSON, ``{"error": "..."}``, never a stack trace.

- a body that is not JSON, or fields of the wrong type or out of range: 422, naming the field;
- a ``UserError`` from the library (a label out of range, an empty mask): 400, its one line;
- an unknown run: 404; a trial answered twice or out of turn: 409;
- an unknown path or method: Starlette's 404 / 405, reworded as one line;
- anything else: 500 with a fixed line, the traceback going to the server's log only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from genimg.errors import UserError
from genimg.studio.judge_views import Conflict
from genimg.studio.workspace import UnknownRun

log = logging.getLogger("genimg.studio")


def one_line(message: object) -> str:
    return " ".join(str(message).split())[:500]


def error(status: int, message: object) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status)


def _validation(_: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    if not errors:
        return error(422, "malformed request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error(422, "the request body is not valid JSON")
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error(422, f"{where}: {first.get('msg', 'invalid')}{more}")


def _http(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    if status == 404 and detail == "Not Found":
        detail = f"no page or API route {request.url.path}; the pages are /, /explore, /draw, /judge and /results"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return error(status, detail)


def _user(_: Request, exc: Exception) -> JSONResponse:
    return error(400, exc)


def _unknown_run(_: Request, exc: Exception) -> JSONResponse:
    return error(404, exc.args[0] if exc.args else "not found")


def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return error(409, exc)


def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.exception("studio: %s %s failed", request.method, request.url.path, exc_info=exc)
    return error(500, "internal error; the server's log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(UserError, _user)
    app.add_exception_handler(UnknownRun, _unknown_run)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(Exception, _internal)
