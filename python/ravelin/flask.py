"""Flask adapter: an extension and a decorator.

```python
from flask import Flask
from ravelin.flask import Guard

app = Flask(__name__)
app.config["RAVELIN_RATE_LIMIT"] = "30/minute"
guard = Guard(app, keys=SQLiteKeyStore("keys.db"))

@app.post("/v1/chat")
@guard.protect(scopes=["chat"])
def chat(): ...
```

Settings come from ``app.config`` keys named like the environment (``RAVELIN_*``, see
`ravelin.policy.Policy`), unless a `Policy` is passed. The decorator runs the input checks
(prompts are redacted in place in the object ``request.get_json()`` returns), calls the view,
then applies the output policy to its response (JSON, text, or a streamed body chunk by chunk)
and records the audit event.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Optional, TypeVar

from flask import Flask, Response, current_app, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import BadRequest, InternalServerError, RequestEntityTooLarge

from ravelin import guard as pipeline
from ravelin.errors import GuardError, InternalError, InvalidRequestError, PayloadTooLargeError
from ravelin.guard import Context, Request
from ravelin.policy import Policy

__all__ = ["Context", "Guard", "current_context"]

# Where a request's guard state lives: its WSGI environ, which is the request's own (Flask's
# `g` belongs to the app context, which requests share while one is pushed around them).
_CONTEXT = "ravelin.context"
_GUARD = "ravelin.guard"
_REQUEST_ID = "ravelin.request_id"

F = TypeVar("F", bound=Callable[..., Any])


class Guard:
    """The ravelin Flask extension: ``Guard(app, keys=...)`` or ``guard.init_app(app)``."""

    def __init__(
        self,
        app: Optional[Flask] = None,
        *,
        policy: Optional[Policy] = None,
        keys: Any = None,
        limiter: Any = None,
    ) -> None:
        self._policy = policy
        self._keys = keys
        self._limiter = limiter
        self.pipeline: Optional[pipeline.Guard] = None
        self._scoped: dict[tuple[tuple[str, ...], Optional[str]], pipeline.Guard] = {}
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        # app.config wins over the environment; both use the RAVELIN_* names.
        policy = self._policy or Policy.load(environ={**os.environ, **app.config})
        self.pipeline = pipeline.Guard(policy, keys=self._keys, limiter=self._limiter)
        app.extensions["ravelin"] = self
        app.register_error_handler(GuardError, self._on_denied)
        if not app.error_handler_spec[None][500]:  # the app's own 500 handler wins
            app.register_error_handler(InternalServerError, _on_internal_error)
        app.after_request(_add_request_id)

    def protect(
        self, *, scopes: Iterable[str] = (), limit: Optional[str] = None
    ) -> Callable[[F], F]:
        """Guard a view: required ``scopes`` and an optional route-specific rate ``limit``."""
        wanted = (tuple(scopes), limit)

        def decorate(view: F) -> F:
            # An async view (flask[async]) runs as Flask runs it, through ensure_sync.
            run: Callable[..., Any] = (
                (lambda *a, **k: current_app.ensure_sync(view)(*a, **k))
                if inspect.iscoroutinefunction(view)
                else view
            )

            @functools.wraps(view)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                guard = self._guard_for(wanted)
                # The object behind Flask's context-local proxy, looked up once.
                req = request._get_current_object()  # type: ignore[attr-defined]
                environ = req.environ
                admitted: Optional[Context] = environ.get(_CONTEXT)
                if admitted is not None:  # an outer `protect` ran first: this one adds its part
                    guard.join(admitted, environ[_GUARD])
                    return run(*args, **kwargs)
                seen = _view(req)
                ctx = guard.begin(seen)
                environ[_CONTEXT], environ[_GUARD] = ctx, guard
                guard.admit(ctx, seen)
                req.max_content_length = guard.policy.max_body_bytes
                kind = pipeline.request_kind(req.environ.get("CONTENT_TYPE", ""))
                fields: Optional[list[str]] = None
                parsed: Any = pipeline._UNPARSED
                try:
                    body = req.get_data(cache=True)
                    if kind == "form":  # its text fields; files are not prompts
                        fields = [value for _, value in req.form.items(multi=True)]
                    elif body:
                        try:
                            parsed = req.get_json(force=True)
                        except BadRequest:
                            if kind != "text":
                                raise
                            fields = [body.decode("utf-8", "replace")]  # text, not JSON
                except RequestEntityTooLarge:
                    raise PayloadTooLargeError("body_bytes") from None
                except BadRequest:
                    reason = "malformed_form" if kind == "form" else "malformed_json"
                    raise InvalidRequestError(reason) from None
                except RecursionError:  # nested deeper than the JSON parser goes
                    raise InvalidRequestError("json_too_deep") from None
                guard.inspect(ctx, body, parsed, fields=fields)
                after = pipeline.body_after(ctx)
                if after is not None:
                    # The raw body a handler may read (a proxy forwarding it): Werkzeug's
                    # cache of it (private, read first by `get_data`; the tests would see it
                    # go) and its length.
                    req._cached_data = after
                    environ["CONTENT_LENGTH"] = str(len(after))
                try:
                    response = current_app.make_response(run(*args, **kwargs))
                except GuardError:
                    raise
                except Exception:
                    guard.complete(ctx, failed=True)
                    raise
                return _filter_response(guard, ctx, response)

            return guarded  # type: ignore[return-value]

        return decorate

    def _guard_for(self, wanted: tuple[tuple[str, ...], Optional[str]]) -> pipeline.Guard:
        if self.pipeline is None:
            raise RuntimeError("ravelin: call Guard(app) or guard.init_app(app) first")
        route = self._scoped.get(wanted)
        if route is None:
            # Two threads may both build it; setdefault keeps one, so counts are never split.
            scopes, limit = wanted
            route = self._scoped.setdefault(
                wanted, self.pipeline.scoped(scopes=scopes, limit=limit)
            )
        return route

    def _on_denied(self, exc: GuardError) -> Response:
        guard: Optional[pipeline.Guard] = request.environ.get(_GUARD) or self.pipeline
        assert guard is not None, "registered by init_app, which builds the pipeline"
        ctx: Optional[Context] = request.environ.get(_CONTEXT)
        if ctx is None:  # kept, so that the X-Request-ID header names the same request
            ctx = request.environ[_CONTEXT] = guard.begin(_view(request))
        denial = guard.denial(ctx, exc)
        return Response(denial.body, status=denial.status, headers=denial.headers)


def current_context() -> Optional[Context]:
    """The guard's context for the current request (key id, owner, scopes, flags), if any."""
    return request.environ.get(_CONTEXT) if request else None


def _view(req: Any) -> Request:
    rule = req.url_rule
    headers = req.headers
    return Request(
        method=req.method,
        path=rule.rule if rule is not None else req.path,
        headers=headers,
        client=req.remote_addr,
        request_id=headers.get("X-Request-ID", ""),
    )


def _filter_response(guard: pipeline.Guard, ctx: Context, response: Response) -> Response:
    ctx.status = response.status_code
    kind = pipeline.body_kind(response.content_type or "")
    # What goes out is decoded (see `Guard.filter_body`); an unreadable coding is refused.
    encoding = _coding(response.headers) if kind is not None else ""
    if encoding:
        del response.headers["Content-Encoding"]
    if ctx.headers:
        _set_headers(response.headers, ctx.headers)
    if kind is None:
        guard.complete(ctx)
        return response
    if response.is_streamed:
        stream = guard.stream_filter(ctx, response.content_type or "", encoding)
        response.response = _filtered_stream(guard, ctx, response.response, stream)
        response.headers.pop("Content-Length", None)
    else:
        body = response.get_data()
        filtered = guard.filter_body(ctx, body, response.content_type, encoding)
        if filtered is not body:  # unchanged: keep the body and its Content-Length as they are
            response.set_data(filtered)
        guard.complete(ctx)
    return response


def _coding(headers: Headers) -> str:
    """The response's Content-Encoding, or "". Read by walking the few headers there are:
    Werkzeug's lookup of a missing header raises and catches a KeyError (~1.5 µs)."""
    for name, value in headers:
        if name.lower() == "content-encoding":
            return str(value)
    return ""


def _set_headers(headers: Headers, values: Mapping[str, str]) -> None:
    """``headers[name] = value`` for each; a name the response lacks (the usual case) is only
    added, without the search through every header that setting one makes."""
    present = {name.lower() for name, _ in headers}
    for name, value in values.items():
        if name.lower() in present:
            headers[name] = value
        else:
            headers.add(name, value)


def _filtered_stream(
    guard: pipeline.Guard, ctx: Context, chunks: Iterable[Any], stream: pipeline.StreamFilter
) -> Iterator[bytes]:
    """The view's stream through the output filter; a late denial ends it (and is audited)."""
    try:
        for chunk in chunks:
            out = stream.feed(chunk.encode() if isinstance(chunk, str) else chunk)
            if out:
                yield out
        tail = stream.close()
        if tail:
            yield tail
    except GuardError as exc:
        guard.denial(ctx, exc)
        return
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    guard.complete(ctx)


def _on_internal_error(exc: InternalServerError) -> Response:
    """The generic 500 for a view's exception (Flask logs it), instead of Werkzeug's page."""
    answer = pipeline.error_response(InternalError(), _request_id())
    return Response(answer.body, status=answer.status, headers=answer.headers)


def _request_id() -> str:
    """The request's id: its guard context's, else one made once (error body and header agree)."""
    environ = request.environ
    ctx: Optional[Context] = environ.get(_CONTEXT)
    if ctx is not None:
        return ctx.request_id
    if _REQUEST_ID not in environ:
        environ[_REQUEST_ID] = pipeline.request_id_from(request.headers.get("X-Request-ID", ""))
    return str(environ[_REQUEST_ID])


def _add_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = _request_id()
    return response
