"""FastAPI adapter: one dependency guards an endpoint.

```python
from fastapi import FastAPI, Security
from ravelin.fastapi import Guard

guard = Guard(Policy(rate_limit="30/minute"), keys=SQLiteKeyStore("keys.db"))
app = FastAPI()
guard.install(app)  # generic error bodies, request ids, output redaction

@app.post("/v1/chat")
async def chat(body: Chat, ctx: Context = Security(guard.require(scopes=["chat"]))): ...
```

The dependency runs the input checks (`ravelin.guard`), redacts prompts in the request body the
endpoint receives, and leaves the context in the ASGI scope; `GuardMiddleware` (pure ASGI, added
by `Guard.install`) then applies the output policy to the response, JSON or streamed, and
records the audit event when the response is done.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable
from typing import Any, Callable, Optional, TypeVar

from fastapi import FastAPI, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import APIKey, APIKeyIn
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ravelin import guard as pipeline
from ravelin.errors import GuardError, InternalError, InvalidRequestError, PayloadTooLargeError
from ravelin.guard import Context, Request
from ravelin.policy import Policy

__all__ = ["Context", "Guard", "GuardMiddleware"]

_CONTEXT = "ravelin.context"
_REQUEST_ID = "ravelin.request_id"
_GUARD = "ravelin.guard"
F = TypeVar("F", bound=Callable[..., Any])


class Guard(SecurityBase):
    """A FastAPI security dependency running the ravelin pipeline; shows in OpenAPI as an API key.

    Use it as ``Depends(guard)``, ``Security(guard.require(scopes=[...]))`` or
    ``@guard.protect(scopes=[...])``; call `install` once on the app.
    """

    def __init__(
        self,
        policy: Optional[Policy] = None,
        *,
        keys: Any = None,
        limiter: Any = None,
        pipeline_guard: Optional[pipeline.Guard] = None,
        scheme_name: Optional[str] = None,
        description: Optional[str] = None,
    ) -> None:
        self.pipeline = pipeline_guard or pipeline.Guard(policy, keys=keys, limiter=limiter)
        headers = self.pipeline.policy.key_headers
        header = next((h for h in headers if h.lower() != "authorization"), headers[0])
        # Validated from a dict: `in` is a Python keyword.
        self.model = APIKey.model_validate(
            {
                "in": APIKeyIn.header,
                "name": header,
                "description": description
                or f"An API key, as `Authorization: Bearer <key>` or `{header}: <key>`.",
            }
        )
        self.scheme_name = scheme_name or "RavelinAPIKey"

    def require(self, *, scopes: Iterable[str] = (), limit: Optional[str] = None) -> Guard:
        """The same guard, requiring extra scopes and/or its own rate limit on one route."""
        return Guard(
            pipeline_guard=self.pipeline.scoped(scopes=scopes, limit=limit),
            scheme_name=self.scheme_name,
            description=self.model.description,
        )

    def protect(
        self, *, scopes: Iterable[str] = (), limit: Optional[str] = None
    ) -> Callable[[F], F]:
        """Decorator form: ``@app.post(...)`` then ``@guard.protect(scopes=[...])``."""
        dependency = self.require(scopes=scopes, limit=limit)

        def decorate(endpoint: F) -> F:
            signature = inspect.signature(endpoint)
            params = list(signature.parameters.values())
            extra = inspect.Parameter(
                "ravelin_context", inspect.Parameter.KEYWORD_ONLY, default=Security(dependency)
            )
            cut = next(
                (i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD),
                len(params),
            )
            params.insert(cut, extra)
            if inspect.iscoroutinefunction(endpoint):

                @functools.wraps(endpoint)
                async def wrapper(*args: Any, ravelin_context: Any = None, **kwargs: Any) -> Any:
                    return await endpoint(*args, **kwargs)
            else:

                @functools.wraps(endpoint)
                def wrapper(*args: Any, ravelin_context: Any = None, **kwargs: Any) -> Any:
                    return endpoint(*args, **kwargs)

            wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
            return wrapper  # type: ignore[return-value]

        return decorate

    def install(self, app: FastAPI) -> None:
        """Add the middleware (request ids, output policy, audit) and the error handlers."""
        app.add_middleware(GuardMiddleware, guard=self.pipeline)

        async def on_guard_error(request: StarletteRequest, exc: Exception) -> Response:
            assert isinstance(exc, GuardError)
            return _error_response(request.scope, exc)

        async def on_invalid_body(request: StarletteRequest, exc: Exception) -> Response:
            # FastAPI parses and validates the body itself; keep its details out of the answer.
            return _error_response(request.scope, InvalidRequestError("validation"))

        async def on_http_error(request: StarletteRequest, exc: Exception) -> Response:
            # A body that is not UTF-8 fails in FastAPI's own parsing, before any dependency,
            # as a 400 with this detail; answer it like every other unreadable body. The app's
            # own HTTPExceptions keep FastAPI's handling.
            assert isinstance(exc, HTTPException)
            if isinstance(exc, _BodyTooLarge):
                return _error_response(request.scope, PayloadTooLargeError("body_bytes"))
            if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
                return _error_response(request.scope, InvalidRequestError("unreadable_body"))
            return await http_exception_handler(request, exc)

        app.add_exception_handler(GuardError, on_guard_error)
        app.add_exception_handler(RequestValidationError, on_invalid_body)
        app.add_exception_handler(HTTPException, on_http_error)

    async def __call__(self, request: StarletteRequest, security_scopes: SecurityScopes) -> Context:
        scope = request.scope
        if _REQUEST_ID not in scope:
            raise RuntimeError("ravelin: call guard.install(app) before serving guarded routes")
        guard = self.pipeline
        admitted: Optional[Context] = scope.get(_CONTEXT)
        if admitted is not None:  # a router's guard ran first: this route's adds its part
            await guard.ajoin(admitted, scope[_GUARD], security_scopes.scopes)
            return admitted
        view = _view(scope)
        ctx = guard.begin(view)
        scope[_CONTEXT] = ctx
        scope[_GUARD] = guard
        await guard.aadmit(ctx, view)
        guard.authorize(ctx, security_scopes.scopes)
        kind = pipeline.request_kind(view.headers.get("content-type") or "")
        parsed: Any = pipeline._UNPARSED
        fields: Optional[list[str]] = None
        if kind == "form":
            body, fields = await _form(request, guard.policy.max_body_bytes)
        elif body := await request.body():
            try:
                # Starlette caches this object and FastAPI validates the endpoint's body from
                # it, so prompts redacted in place here are what the endpoint receives.
                parsed = await request.json()
            except (ValueError, RecursionError):
                parsed = pipeline._UNPARSED  # the pipeline reports it, in its order
            if kind == "text" and parsed is pipeline._UNPARSED:  # text that is not JSON
                fields = [body.decode("utf-8", "replace")]
        await guard.ainspect(ctx, body, parsed, fields=fields)
        after = pipeline.body_after(ctx)
        if after is not None:
            _replace_body(request, after)
        return ctx


def _replace_body(request: StarletteRequest, body: bytes) -> None:
    """``body`` in place of the raw one the handler may read: Starlette's cache of it (a
    private attribute, which its `body()` has read first for years; the tests would see it
    go) and the Content-Length header, for a proxy that forwards both."""
    request._body = body
    headers = request.scope["headers"]
    if isinstance(headers, list):
        for i, (name, _) in enumerate(headers):
            if name == b"content-length":
                headers[i] = (name, str(len(body)).encode())


async def _form(request: StarletteRequest, limit: int) -> tuple[bytes, list[str]]:
    """A form body and its text fields (files are not prompts), parsed as the endpoint will
    read them (Starlette caches the form). An endpoint with ``Form``/``File`` parameters has
    FastAPI read the form before any dependency runs: then the body is gone, and what the form
    holds is measured against ``limit`` instead."""
    try:
        body = await request.body()
    except RuntimeError:  # "Stream consumed": FastAPI parsed the form already
        body = b""
    try:
        form = await request.form()
    except (AssertionError, HTTPException):
        # No python-multipart to parse it (Starlette asserts), or a malformed body.
        raise InvalidRequestError("unreadable_form") from None
    items = form.multi_items()
    if not body:
        size = sum(len(v) if isinstance(v, str) else v.size or 0 for _, v in items)
        if size > limit:
            raise PayloadTooLargeError("body_bytes")
    return body, [value for _, value in items if isinstance(value, str)]


def _error_response(scope: Scope, exc: GuardError) -> Response:
    guard: pipeline.Guard = scope[_GUARD]
    ctx: Optional[Context] = scope.get(_CONTEXT)
    if ctx is None:  # denied before the dependency ran (FastAPI's own body validation)
        ctx = guard.begin(_view(scope))
    denial = guard.denial(ctx, exc)
    return Response(denial.body, status_code=denial.status, headers=denial.headers)


def _view(scope: Scope) -> Request:
    """The pipeline's view of an ASGI request."""
    client = scope.get("client")
    path: str = scope["path"]
    return Request(
        method=scope["method"],
        path=getattr(scope.get("route"), "path", path),
        headers=_Headers(scope["headers"]),
        client=client[0] if client else None,
        request_id=scope[_REQUEST_ID],
    )


class _Headers:
    """An ASGI request's headers as the pipeline reads them: ``get`` by lower-case name, the
    first value counting, decoded as latin-1 as HTTP says. Only the few names asked for are
    decoded (a dict of them all would decode every header of every request)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        wanted = name.encode("latin-1")
        for key, value in self._raw:  # ASGI names are lower-case
            if key == wanted:
                return value.decode("latin-1")
        return default


class GuardMiddleware:
    """Pure ASGI middleware: request ids, output policy on guarded responses, audit at the end.

    The layers inside it do not see the request's ``Accept-Encoding``: a compression middleware
    added before ``guard.install`` would otherwise hand the output policy a gzip body it cannot
    read, and the answer would go out unredacted. Compression added after it (outside) works.
    """

    def __init__(self, app: ASGIApp, *, guard: pipeline.Guard) -> None:
        self.app = app
        self.guard = guard
        # Per route (by id: routes compare by value and do not hash; each kept beside its limit,
        # so that its id is not reused): the smallest `max_body_bytes` of its guards.
        self._body_limits: dict[int, tuple[Any, Optional[int]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, _ in scope["headers"]:
            if name == b"accept-encoding":
                # A copy: the layers outside keep the request as it came.
                headers = [h for h in scope["headers"] if h[0] != b"accept-encoding"]
                scope = {**scope, "headers": headers}
                break
        scope[_REQUEST_ID] = pipeline.request_id_from(
            _Headers(scope["headers"]).get("x-request-id") or ""
        )
        scope[_GUARD] = self.guard  # a guarded route's dependency puts its own (scoped) guard
        responder = _Responder(scope, send)
        failed = True
        try:
            await self.app(scope, self._bounded(scope, receive), responder.send)
            failed = False
        except Exception:
            # Answered here, inside the server's own error layer, so that no traceback page
            # (FastAPI's `debug=True`) reaches the client; re-raised for the server to log. An
            # app with its own handler for them (500 or Exception) answers them itself.
            if not responder.started and not _answers_errors(scope.get("app")):
                await responder.fail()
            raise
        finally:
            ctx: Optional[Context] = scope.get(_CONTEXT)
            if ctx is not None and not ctx.done:
                await scope[_GUARD].acomplete(ctx, failed=failed)

    def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        """``receive``, stopping a guarded route's body at its policy's ``max_body_bytes`` as it
        arrives: FastAPI reads a body whole before any dependency runs, so a check there would
        come after the memory was spent. The route is known once routing has put it in the
        scope, before anything reads the body."""
        received = 0

        async def bounded() -> Message:
            nonlocal received
            limit = self._body_limit(scope.get("route"))
            if limit is None:
                return await receive()
            if received == 0:
                declared = _Headers(scope["headers"]).get("content-length") or ""
                if declared.isdigit() and int(declared) > limit:
                    raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        return bounded

    def _body_limit(self, route: Any) -> Optional[int]:
        known = self._body_limits.get(id(route))
        if known is None or known[0] is not route:
            limits = [g.pipeline.policy.max_body_bytes for g in _guards(route)]
            known = self._body_limits[id(route)] = (route, min(limits, default=None))
        return known[1]


def _answers_errors(app: Any) -> bool:
    """Whether the app has its own handler for the exceptions it lets out (Starlette's
    server error layer calls it)."""
    handlers = getattr(app, "exception_handlers", {})
    return 500 in handlers or Exception in handlers


def _guards(route: Any) -> Iterable[Guard]:
    """The ravelin guards among a FastAPI route's dependencies, at any depth."""
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is not None:
            if isinstance(dependant.call, Guard):
                yield dependant.call
            pending.extend(dependant.dependencies)


class _BodyTooLarge(HTTPException):
    """A guarded route's body grew past its limit while it was read. An ``HTTPException``: the
    one kind FastAPI passes on unchanged from reading a body (others become a 400)."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class _Responder:
    """Wraps ``send``: adds headers, filters the body of allowed guarded responses."""

    def __init__(self, scope: Scope, send: Send) -> None:
        self.scope = scope
        self.downstream = send
        self.started = False  # whether a response start went out (set where one is sent)
        self.start: Optional[Message] = None
        self.kind: Optional[str] = None
        self.content_type = ""
        self.content_encoding = ""
        self.buffer: list[bytes] = []
        self.stream: Optional[pipeline.StreamFilter] = None
        self.stopped = False

    async def send(self, message: Message) -> None:
        if self.stopped:
            return
        if message["type"] == "http.response.start":
            await self._start(message)
        elif message["type"] == "http.response.body" and self.kind is not None:
            await self._body(message)
        else:
            await self.downstream(message)

    async def fail(self) -> None:
        """The generic 500, for an exception the app let out before answering."""
        ctx: Optional[Context] = self.scope.get(_CONTEXT)
        if ctx is not None:
            ctx.status = 500
        await self._answer(pipeline.error_response(InternalError(), self.scope[_REQUEST_ID]))

    async def _start(self, message: Message) -> None:
        scope = self.scope
        ctx: Optional[Context] = scope.get(_CONTEXT)
        headers = list(message.get("headers", []))
        headers.append((b"x-request-id", scope[_REQUEST_ID].encode()))
        if ctx is not None and not ctx.done:
            ctx.status = message["status"]
            headers.extend([(_header_name(k), v.encode()) for k, v in ctx.headers.items()])
            self.content_type = _header(headers, b"content-type")
            self.content_encoding = _header(headers, b"content-encoding")
            self.kind = pipeline.body_kind(self.content_type)
        if self.kind is None:
            self.started = True
            await self.downstream({**message, "headers": headers})
            return
        # Held until the body shows its shape: a whole body is filtered (and may still be
        # refused) before anything is sent; a streamed text body is filtered as it goes.
        # Either way its length may change, so Content-Length is recomputed or dropped; and
        # what goes out is decoded (see `Guard.filter_body`).
        dropped = (b"content-length", b"content-encoding")
        headers = [(k, v) for k, v in headers if k not in dropped]
        self.start = {**message, "headers": headers}

    async def _body(self, message: Message) -> None:
        guard: pipeline.Guard = self.scope[_GUARD]
        ctx: Context = self.scope[_CONTEXT]
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if self.stream is None and more and not self.buffer and self.kind != "json":
            assert self.start is not None
            try:
                self.stream = guard.stream_filter(ctx, self.content_type, self.content_encoding)
            except GuardError as exc:  # nothing is sent yet: refuse the whole answer
                self.stopped = True
                await self._refuse(guard, ctx, exc)
                return
            self.started = True
            await self.downstream(self.start)
        if self.stream is not None:
            try:
                out = (
                    self.stream.feed(chunk)
                    if more
                    else self.stream.feed(chunk) + self.stream.close()
                )
            except GuardError as exc:
                # Headers are gone: end the stream here; the denial goes to the audit log.
                guard.denial(ctx, exc)
                self.stopped = True
                await self.downstream(
                    {"type": "http.response.body", "body": b"", "more_body": False}
                )
                return
            await self.downstream({"type": "http.response.body", "body": out, "more_body": more})
            return
        self.buffer.append(chunk)
        if more:
            return
        assert self.start is not None
        try:
            body = guard.filter_body(
                ctx, b"".join(self.buffer), self.content_type, self.content_encoding
            )
        except GuardError as exc:
            await self._refuse(guard, ctx, exc)
            return
        await self._whole(self.start, body)

    async def _refuse(self, guard: pipeline.Guard, ctx: Context, exc: GuardError) -> None:
        """The denial instead of the answer (nothing of which was sent)."""
        await self._answer(guard.denial(ctx, exc))

    async def _answer(self, answer: pipeline.ErrorResponse) -> None:
        """Sends a generic error body, with the request id."""
        start: Message = {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
            + [(b"x-request-id", self.scope[_REQUEST_ID].encode())],
        }
        await self._whole(start, answer.body)

    async def _whole(self, start: Message, body: bytes) -> None:
        """Sends ``start``, with the body's length, and the whole ``body``."""
        start = {
            **start,
            "headers": [*start["headers"], (b"content-length", str(len(body)).encode())],
        }
        self.started = True
        await self.downstream(start)
        await self.downstream({"type": "http.response.body", "body": body, "more_body": False})


@functools.lru_cache(maxsize=64)
def _header_name(name: str) -> bytes:
    """The ASGI form of a header name the guard sets (a handful, each on every response)."""
    return name.lower().encode("latin-1")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""
