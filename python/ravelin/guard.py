"""The framework-neutral guard pipeline.

An adapter (``ravelin.fastapi``, ``ravelin.flask``) turns its framework's request into a
`Request` view and calls, in order:

1. `Guard.admit` / `Guard.aadmit`: authenticate -> penalty box -> rate limit -> declared size.
2. `Guard.inspect` / `Guard.ainspect` with the body (or the text fields of a form, see
   `request_kind`): size -> parse -> field sizes -> injection scan -> PII policy (redacting the
   parsed body in place) -> budget charge. The text work is one core call
   (`ravelin._core.GuardInspector`), whose report the steps turn into denials.
3. After the handler: `Guard.filter_body` / `Guard.stream_filter` (output redaction and canary
   check, on the decoded body when it came gzip or deflate), then `Guard.complete` /
   `Guard.acomplete` (budget reconciliation and the audit event).

A denial is a `ravelin.errors.GuardError`; `Guard.denial` turns it into the generic response
(status, headers, JSON body) and records it. Text work runs in the Rust core (scan, redact,
estimate, mask); the pipeline itself does no regex or hashing per request.

The steps are written once, as generators that yield the few calls touching shared state (key
store, limiter, budget, abuse counters). The sync driver makes those calls directly; the async
driver awaits the backend's ``a``-prefixed coroutine when it has one (Redis) and otherwise
offloads to a thread only what may block (SQLite), so the event loop never waits on I/O.
"""

from __future__ import annotations

import asyncio
import codecs
import copy
import enum
import functools
import inspect
import json
import logging
import math
import os
import random
import sqlite3
import time
import types
import zlib
from collections import Counter
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import ravelin
from ravelin import audit
from ravelin.abuse import AbuseGuard, RedisAbuseGuard, repeat_key
from ravelin.budgets import Budget, RedisBudget
from ravelin.errors import (
    BudgetExceededError,
    ContentBlockedError,
    GuardError,
    InvalidRequestError,
    MissingKeyError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    TemporarilyBlockedError,
)
from ravelin.limits import RedisRateLimiter
from ravelin.policy import WILDCARD, PathSegment, Policy, parse_path

log = logging.getLogger("ravelin.guard")

try:
    from redis.exceptions import RedisError
except ImportError:  # the redis extra is optional
    RedisError = OSError  # type: ignore[assignment,misc]

# What a shared-state backend raises when it is unreachable: a store outage, not a bug.
OUTAGE_ERRORS = (OSError, TimeoutError, sqlite3.Error, RedisError)
# Denials that count towards the abuse penalty box (not 429s: those are the box's own output).
ABUSE_ERRORS = (ContentBlockedError, PayloadTooLargeError, InvalidRequestError)
REPEATED_PROMPT = "repeated_prompt"

_UNPARSED: Any = object()
# Where streamed JSON events carry their text: OpenAI chat chunks, Anthropic text deltas, the
# Responses API's output_text deltas (a string `delta`), Gemini chunks.
_DELTA_PATHS = (
    parse_path("choices[0].delta.content"),
    parse_path("delta.text"),
    parse_path("delta"),
    parse_path("candidates[0].content.parts[0].text"),
)
_TEXT_END_TYPES = frozenset(
    {
        "content_block_stop",
        "message_delta",
        "message_stop",
        "response.output_text.done",
        "response.completed",
    }
)
# Where the texts of a form or a text body sit for the core's path walker.
_FIELDS_PATH = parse_path("fields[*]")
_REQUEST_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class HeaderLookup(Protocol):
    """All the pipeline asks of a request's headers: one value by lower-case name."""

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]: ...


@dataclass
class Request:
    """What the pipeline needs to know about an HTTP request, whatever the framework.

    ``headers`` answers ``.get(name)`` for lower-case names (a dict, or a framework's own
    case-insensitive headers, so nothing is copied), values decoded as latin-1 as HTTP
    defines; ``client`` is the peer address the server saw.
    """

    method: str
    path: str
    headers: HeaderLookup
    client: Optional[str] = None
    body: bytes = b""
    request_id: str = ""


@dataclass
class Context:
    """One request's state through the pipeline; adapters hand it to the endpoint."""

    request_id: str
    method: str
    route: str
    client_ip: Optional[str]
    started: float
    identity: str = ""
    key_id: Optional[str] = None
    masked_key: Optional[str] = None
    owner: Optional[str] = None
    scopes: tuple[str, ...] = ()
    json: Any = None
    prompts: list[str] = field(default_factory=list)
    flagged: bool = False
    injection_score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    rule_ids: list[str] = field(default_factory=list)
    entities: Counter[str] = field(default_factory=Counter)
    output_entities: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    # The tokens the answer reports using (see `report_usage`), None while it reports none.
    reported_input: Optional[int] = None
    reported_output: Optional[int] = None
    headers: dict[str, str] = field(default_factory=dict)
    # The response's status code, once the adapter has seen it (a denial's is the error's).
    status: Optional[int] = None
    reservation: Any = None
    done: bool = False
    # The parsed body's prompts were rewritten in place (redacted, or lone surrogates
    # replaced): its raw bytes are no longer what the endpoint may read (see `body_after`).
    rewritten: bool = False

    def report_usage(self, input_tokens: Optional[int], output_tokens: Optional[int]) -> None:
        """Tokens the answer reports; a stream's counts grow event by event, so the largest
        seen of each side stands. Believed only of an answer to prompts (a model's): an
        endpoint reporting an account's usage (``GET /v1/usage``) is not charging it."""
        if not self.prompts:
            return
        if input_tokens is not None:
            self.reported_input = max(self.reported_input or 0, input_tokens)
        if output_tokens is not None:
            self.reported_output = max(self.reported_output or 0, output_tokens)


@dataclass
class ErrorResponse:
    """A denial as the client sees it: nothing beyond the code, a fixed message and the id."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Call:
    """One call on shared state, made by the sync or async driver (slotted: several are made
    per request)."""

    __slots__ = (
        "args", "blocking", "cached", "fail_open", "fallback", "kwargs", "method", "target"
    )

    def __init__(
        self,
        target: Any,
        method: str,
        args: tuple[Any, ...],
        *,
        fail_open: bool = False,
        fallback: Any = None,
        blocking: bool = False,
        kwargs: Optional[Mapping[str, Any]] = None,
        cached: Optional[str] = None,
    ) -> None:
        self.target = target
        self.method = method
        self.args = args
        # On an outage: allow and log (True, returning `fallback`) or deny with 503 (False).
        self.fail_open = fail_open
        self.fallback = fallback
        # Sync-only backends that may block (SQLite) run in a thread under the async driver.
        self.blocking = blocking
        self.kwargs = kwargs if kwargs is not None else _NO_KWARGS
        # A no-I/O variant the async driver tries first (a cache hit); None from it means "call".
        self.cached = cached


_NO_KWARGS: Mapping[str, Any] = {}
# Result types of sync backend calls known not to be awaitable (a decision, a float...): the
# awaitable check, an ABC instance check, is made once per type rather than once per call.
# (A generator may or may not be a coroutine, so it is never listed.)
_PLAIN_RESULTS: set[type] = {type(None), bool, int, float, str}
_Steps = Generator[_Call, Any, Any]


class _AsyncHow(enum.Enum):
    AWAIT = "await"  # a coroutine function
    THREAD = "thread"  # sync and may block: run in a worker thread
    CALL = "call"  # sync and quick (in-process state), or returns an awaitable: call it


@functools.lru_cache(maxsize=256)
def _async_plan(
    cls: type, method: str, blocking: bool, cached: Optional[str]
) -> tuple[str, _AsyncHow, Optional[str]]:
    """How the async driver makes a call, decided once per backend class and method: the
    backend's ``a``-prefixed coroutine when it has one, else the method itself (in a thread,
    after its cache-only variant when the backend has one, if it may block)."""
    if hasattr(cls, "a" + method):
        name = "a" + method
    else:
        name = method
        if blocking and not inspect.iscoroutinefunction(getattr(cls, method, None)):
            return name, _AsyncHow.THREAD, cached if cached and hasattr(cls, cached) else None
    if inspect.iscoroutinefunction(getattr(cls, name, None)):
        return name, _AsyncHow.AWAIT, None
    return name, _AsyncHow.CALL, None


class Guard:
    """The pipeline for one `Policy` and its state backends.

    ``keys`` is a `ravelin.keys` store (required when the policy requires a key); the rate
    limiter (`ravelin.RateLimiter` / `ravelin.limits.RedisRateLimiter`), budget
    (`ravelin.budgets`) and abuse counters (`ravelin.abuse`) are built from the policy,
    in-process or in Redis when ``policy.redis_url`` is set, unless given.
    """

    def __init__(
        self,
        policy: Optional[Policy] = None,
        *,
        keys: Any = None,
        limiter: Any = None,
        budget: Any = None,
        abuse: Any = None,
    ) -> None:
        self.policy = policy or Policy()
        if self.policy.require_key and keys is None:
            raise ValueError("keys: a key store is required when the policy requires a key")
        self.keys = keys
        self.limiter = (
            limiter
            if limiter is not None
            else _limiter(self.policy, self.policy.rate_limit, prefix="ravelin:rl")
        )
        self.budget = budget if budget is not None else _default_budget(self.policy)
        self.abuse = abuse if abuse is not None else _default_abuse(self.policy)
        self.repeats = _limiter(self.policy, self.policy.repeat_limit, prefix="ravelin:repeat")
        self._key_headers = tuple(h.lower() for h in self.policy.key_headers)
        self._inspector = _inspector(self.policy)
        self._fields_inspector = _inspector(self.policy, paths=(_FIELDS_PATH,))
        # Loads the tokenizer tables now, not on the first request, and checks the model name.
        ravelin.estimate_tokens("warm-up", model=self.policy.model)
        self._www_authenticate = (
            'Bearer realm="api"' if "authorization" in self._key_headers else "ApiKey"
        )

    def scoped(self, *, scopes: Iterable[str] = (), limit: Optional[str] = None) -> Guard:
        """This guard for one route: extra required ``scopes`` and/or its own rate ``limit``;
        keys, budgets, abuse counters and the global limit's state stay shared."""
        route = copy.copy(self)
        changes: dict[str, Any] = {"scopes": tuple(dict.fromkeys((*self.policy.scopes, *scopes)))}
        if limit is not None and limit != self.policy.rate_limit:
            changes["rate_limit"] = limit
            route.limiter = _limiter(self.policy, limit, prefix="ravelin:rl")
        route.policy = self.policy.replace(**changes)
        return route

    # -- drivers ------------------------------------------------------------------------------

    def admit(self, ctx: Context, request: Request) -> None:
        """Authenticate, rate-limit and size-check a request (sync); raises `GuardError`.

        ``ctx`` comes from `begin`, so that a denial can still be answered with its request id
        and headers.
        """
        self._run(self._admit(ctx, request))

    async def aadmit(self, ctx: Context, request: Request) -> None:
        await self._arun(self._admit(ctx, request))

    def inspect(
        self,
        ctx: Context,
        body: bytes,
        parsed: Any = _UNPARSED,
        *,
        fields: Optional[list[str]] = None,
    ) -> Any:
        """Check the body; returns the parsed JSON with prompts redacted in place per policy.

        Pass ``parsed`` when the framework has already parsed (and cached) the body, so that the
        endpoint sees the redacted object. A form or a text body (see `request_kind`) is
        checked as its ``fields`` instead, each text a prompt; the framework's own copy cannot
        be redacted in place, so PII the policy would redact there refuses the request.
        """
        return self._run(self._inspect(ctx, body, parsed, fields))

    async def ainspect(
        self,
        ctx: Context,
        body: bytes,
        parsed: Any = _UNPARSED,
        *,
        fields: Optional[list[str]] = None,
    ) -> Any:
        return await self._arun(self._inspect(ctx, body, parsed, fields))

    def complete(self, ctx: Context, *, failed: bool = False) -> None:
        """Reconcile the budget and record the request's audit event (once).

        ``failed``: the handler raised, so the decision is recorded as ``error``.
        """
        self._run(self._complete(ctx, failed))

    async def acomplete(self, ctx: Context, *, failed: bool = False) -> None:
        await self._arun(self._complete(ctx, failed))

    def denial(self, ctx: Context, err: GuardError) -> ErrorResponse:
        """The generic response for a denial, and its audit event (once per request)."""
        if not ctx.done:
            ctx.done = True
            if err.reason not in ctx.reasons:
                ctx.reasons.append(err.reason)
            self._audit(ctx, "deny", err)
        return error_response(
            err, ctx.request_id, ctx.headers, www_authenticate=self._www_authenticate
        )

    def _run(self, steps: _Steps) -> Any:
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                call = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = getattr(call.target, call.method)(*call.args, **call.kwargs)
            except GuardError as e:
                error = e
            except OUTAGE_ERRORS as e:
                value, error = self._outage(call, e)

    async def _arun(self, steps: _Steps) -> Any:
        # The call is made inline, not in a helper coroutine: a few calls per request each
        # saved a coroutine frame and an await.
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                call = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            target, args, kwargs = call.target, call.args, call.kwargs
            kind: type = type(target)
            try:
                name, how, cached = _async_plan(kind, call.method, call.blocking, call.cached)
                if how is _AsyncHow.CALL:
                    value = getattr(target, name)(*args, **kwargs)
                    kind = type(value)
                    if kind not in _PLAIN_RESULTS:
                        if inspect.isawaitable(value):
                            value = await value
                        elif kind is not types.GeneratorType:
                            _PLAIN_RESULTS.add(kind)
                elif how is _AsyncHow.AWAIT:
                    value = await getattr(target, name)(*args, **kwargs)
                else:
                    if cached is not None:
                        value = getattr(target, cached)(*args, **kwargs)
                    if value is None:
                        value = await asyncio.to_thread(getattr(target, name), *args, **kwargs)
            except GuardError as e:
                error = e
            except OUTAGE_ERRORS as e:
                value, error = self._outage(call, e)

    @staticmethod
    def _outage(call: _Call, exc: BaseException) -> tuple[Any, Optional[GuardError]]:
        name = type(call.target).__name__
        if call.fail_open:
            log.warning("%s.%s failed (%s); failing open", name, call.method, type(exc).__name__)
            return call.fallback, None
        log.error("%s.%s failed (%s); failing closed", name, call.method, type(exc).__name__)
        return None, ServiceUnavailableError(f"store_unavailable:{name}.{call.method}")

    # -- admission ----------------------------------------------------------------------------

    def begin(self, request: Request) -> Context:
        """A fresh context for a request (its id kept if well-formed, else a new one)."""
        return Context(
            request_id=request_id_from(request.request_id),
            method=request.method,
            route=request.path,
            client_ip=self.client_ip(request),
            started=time.perf_counter(),
        )

    def client_ip(self, request: Request) -> Optional[str]:
        """The peer address; X-Forwarded-For is believed only as far as trusted proxies go."""
        peer = request.client
        if peer is None or not self.policy.trusted_proxies:  # the usual case: no header read
            return peer
        forwarded = request.headers.get("x-forwarded-for")
        if not forwarded or not self.policy.is_trusted_proxy(peer):
            return peer
        # Rightmost first: each trusted hop appended the address it saw.
        for hop in reversed([h.strip() for h in forwarded.split(",")]):
            if not self.policy.is_trusted_proxy(hop):
                return hop or peer
        return peer

    def _admit(self, ctx: Context, request: Request) -> _Steps:
        try:
            raw = self._key_of(request)
            if raw is None:
                if self.policy.require_key:
                    raise MissingKeyError("missing_key")
                ctx.identity = f"ip:{ctx.client_ip}"
                self.authorize(ctx, self.policy.scopes)
            else:
                ctx.masked_key = ravelin.mask_key(raw)
                record = yield _Call(
                    self.keys, "authenticate", (raw,), blocking=True, cached="authenticate_cached"
                )
                self._accept(ctx, record)
            yield from self._check_penalty(ctx)
            yield from self._limit(ctx)
            declared = request.headers.get("content-length") or ""
            if declared.isdigit() and int(declared) > self.policy.max_body_bytes:
                raise PayloadTooLargeError("body_bytes")
        except GuardError as err:
            yield from self._count_abuse(ctx, err)
            raise

    def _limit(self, ctx: Context) -> _Steps:
        if self.limiter is None:
            return
        decision = yield _Call(
            self.limiter, "hit", (ctx.identity, 1), fail_open=self.policy.fail_open
        )
        if decision is None:
            ctx.reasons.append("limiter_unavailable")
            return
        ctx.headers.update(self._rate_headers(decision))
        if not decision.allowed:
            raise RateLimitedError(
                "rate_limit", retry_after=decision.retry_after, headers=ctx.headers
            )

    def join(self, ctx: Context, first: Guard, scopes: Iterable[str] = ()) -> None:
        """This guard on a request that guard ``first`` already admitted and inspected (a
        router's guard and a route's): only what it adds, its scopes and, when it has a
        limit of its own, that limit. Nothing is counted, scanned or charged twice."""
        self._run(self._join(ctx, first, scopes))

    async def ajoin(self, ctx: Context, first: Guard, scopes: Iterable[str] = ()) -> None:
        await self._arun(self._join(ctx, first, scopes))

    def _join(self, ctx: Context, first: Guard, scopes: Iterable[str]) -> _Steps:
        try:
            self.authorize(ctx, (*self.policy.scopes, *scopes))
            if self.limiter is not first.limiter:
                yield from self._limit(ctx)
        except GuardError:
            # Refused after the first guard reserved its budget: the model is not called.
            yield from first._settle(ctx, 0, 0)
            raise

    def _key_of(self, request: Request) -> Optional[str]:
        for name in self._key_headers:
            value = request.headers.get(name)
            if not value:
                continue
            if name == "authorization":
                scheme, _, token = value.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    continue
                value = token
            return value.strip()
        return None

    def _accept(self, ctx: Context, record: Any) -> None:
        ctx.key_id = record.key_id
        ctx.owner = record.owner
        ctx.scopes = tuple(record.scopes)
        ctx.identity = f"key:{record.key_id}"
        self.authorize(ctx, self.policy.scopes)

    def authorize(self, ctx: Context, scopes: Iterable[str]) -> None:
        """Raise `PermissionDeniedError` unless the request's key holds every scope."""
        if ctx.key_id is None:
            if scopes:
                raise PermissionDeniedError("anonymous")
            return
        missing = [s for s in scopes if s not in ctx.scopes and "*" not in ctx.scopes]
        if missing:
            raise PermissionDeniedError("missing_scope:" + ",".join(missing))

    def _check_penalty(self, ctx: Context) -> _Steps:
        if self.abuse is None:
            return
        left = yield _Call(self.abuse, "blocked", (ctx.identity,), fail_open=self.policy.fail_open)
        if left:
            raise TemporarilyBlockedError("penalty_box", retry_after=left)

    def _count_abuse(self, ctx: Context, err: GuardError) -> _Steps:
        """Count a content or size denial towards the client's penalty box (best effort)."""
        counts = isinstance(err, ABUSE_ERRORS) or err.reason == REPEATED_PROMPT
        if self.abuse is None or not ctx.identity or not counts:
            return
        try:
            yield _Call(self.abuse, "record", (ctx.identity, err.reason), fail_open=True)
        except GuardError:
            log.warning("abuse counter unavailable; denial not counted")

    @staticmethod
    def _rate_headers(decision: Any) -> dict[str, str]:
        """IETF draft ``RateLimit-Policy``/``RateLimit`` plus the common ``X-RateLimit-*``."""
        remaining = str(max(0, int(decision.remaining)))
        reset = str(max(0, math.ceil(decision.reset_after)))
        policy, limit = _rate_policy(decision.limit, decision.window)
        return {
            "RateLimit-Policy": policy,
            "RateLimit": f'"default";r={remaining};t={reset}',
            "X-RateLimit-Limit": limit,
            "X-RateLimit-Remaining": remaining,
            "X-RateLimit-Reset": reset,
        }

    # -- inspection ---------------------------------------------------------------------------

    def _inspect(
        self, ctx: Context, body: bytes, parsed: Any, fields: Optional[list[str]]
    ) -> _Steps:
        try:
            if len(body) > self.policy.max_body_bytes:
                raise PayloadTooLargeError("body_bytes")
            if fields is not None:
                parsed, inspector = {"fields": fields}, self._fields_inspector
            else:
                if parsed is _UNPARSED:
                    parsed = _parse_json(body)
                ctx.json, inspector = parsed, self._inspector
            # One core call: finds the prompts, scans them, applies the PII policy (redacting
            # in place) and estimates their tokens; the denials below keep the checks' order.
            report = inspector.inspect(parsed)
            ctx.prompts = report.prompts
            if report.too_long:
                raise PayloadTooLargeError("field_chars")
            yield from self._check_repeats(ctx)
            if report.flagged:
                ctx.flagged = True
                ctx.injection_score = report.score
                ctx.rule_ids.extend(report.rule_ids)
                if self.policy.injection_action == "block":
                    raise ContentBlockedError("injection")
                ctx.reasons.append("injection")
            if report.entities:
                for entity_type, count in report.entities:
                    ctx.entities[entity_type] += count
                if report.blocked:
                    raise ContentBlockedError("pii:" + ",".join(report.blocked))
                ctx.reasons.append("pii")
            if report.redacted_prompts is not None:
                if fields is not None:  # the endpoint would read the fields unredacted
                    raise ContentBlockedError("pii_unredactable")
                ctx.prompts = report.redacted_prompts
                ctx.rewritten = True
            ctx.input_tokens = report.tokens
            yield from self._charge(ctx)
        except GuardError as err:
            yield from self._count_abuse(ctx, err)
            raise
        return parsed

    def _check_repeats(self, ctx: Context) -> _Steps:
        """The same client sending the very same prompt again and again (scripted abuse)."""
        if self.repeats is None or not ctx.prompts:
            return
        key = repeat_key(ctx.identity, "\x00".join(ctx.prompts))
        decision = yield _Call(self.repeats, "hit", (key, 1), fail_open=self.policy.fail_open)
        if decision is not None and not decision.allowed:
            raise RateLimitedError(REPEATED_PROMPT, retry_after=decision.retry_after)

    def _charge(self, ctx: Context) -> _Steps:
        """Reserve the prompts' estimated tokens (and their cost) against the budget."""
        if self.budget is None:
            return
        decision = yield _Call(
            self.budget,
            "reserve",
            (ctx.identity, ctx.input_tokens, self.policy.model),
            fail_open=self.policy.fail_open,
        )
        if decision is None:
            ctx.reasons.append("budget_unavailable")
        elif not decision.allowed:
            raise BudgetExceededError("budget", retry_after=decision.retry_after)
        else:
            ctx.reservation = decision

    # -- output -------------------------------------------------------------------------------

    def filter_text(self, ctx: Context, text: str) -> str:
        """Output policy for one text: canary check, then PII redaction (or block)."""
        self._check_canary(ctx, text)
        if self.policy.pii_output_action != "allow":
            found = ravelin.detect(text)
            if found:
                ctx.output_entities.update(e.entity_type for e in found)
                if self.policy.pii_output_action == "block":
                    raise ContentBlockedError("output_pii")
                text = ravelin.redact(text).text
        return text

    def filter_json(self, ctx: Context, value: Any) -> tuple[Any, bool]:
        """Output policy on every string inside a JSON value (in place); (value, changed)."""
        if isinstance(value, str):
            text = self.filter_text(ctx, value)
            return text, text != value
        changed = False
        for container, key in _string_slots(value):
            text = self.filter_text(ctx, container[key])
            if text != container[key]:
                container[key] = text
                changed = True
        return value, changed

    def filter_body(
        self, ctx: Context, body: bytes, content_type: str, content_encoding: str = ""
    ) -> bytes:
        """Output policy on a whole response body: JSON strings, or text; binary passes.

        A gzip or deflate body (``content_encoding``) is filtered, and returned, decoded; one
        in another coding cannot be read, so it is refused (`ContentBlockedError`).
        """
        if content_encoding:
            decoder = output_decoder(content_encoding)
            if decoder is not None:
                body = _inflated(decoder, body, final=True)
        kind = body_kind(content_type)
        if kind == "json":
            # One core call counts the answer's text, reads the usage it reports, and says
            # whether it passes unchanged: most answers hold no canary and no PII.
            read = self._inspector.check_output(body)
            if read is not None:
                tokens, clean, reported_input, reported_output = read
                ctx.output_tokens += tokens
                ctx.report_usage(reported_input, reported_output)
                if clean:
                    return body
            try:
                value = json.loads(body)
            except (ValueError, RecursionError):
                kind = "text"  # a handler mislabelled its output: still inspect it as text
            else:
                if read is None:  # not strict JSON (NaN, lone surrogates): count it whole
                    ctx.output_tokens += self._tokens(body.decode("utf-8", "replace"))
                value, changed = self.filter_json(ctx, value)
                if not changed:
                    return body
                return _json_text(value).encode()
        if kind in ("text", "stream"):
            text = body.decode("utf-8", "replace")
            ctx.output_tokens += self._tokens(text)
            redacted = self.filter_text(ctx, text)
            return body if redacted == text else redacted.encode()
        return body

    def stream_filter(
        self, ctx: Context, content_type: str = "", content_encoding: str = ""
    ) -> StreamFilter:
        """A filter for a streamed response body (server-sent events parsed as such), decoding
        it as `filter_body` does (its output is not encoded)."""
        return StreamFilter(
            self,
            ctx,
            events=body_kind(content_type) == "stream",
            inflate=output_decoder(content_encoding),
        )

    def _tokens(self, text: str) -> int:
        return ravelin.estimate_tokens(text, model=self.policy.model) if text else 0

    def _check_canary(self, ctx: Context, text: str) -> None:
        canary = self.policy.canary_token
        if canary is not None and canary in text:
            raise ContentBlockedError("canary_leak")

    def _complete(self, ctx: Context, failed: bool) -> _Steps:
        if ctx.done:
            return
        ctx.done = True
        if failed and ctx.status is None:  # the handler raised before answering
            ctx.status = 500
        # What the answer reports using is what its provider bills: it wins over the
        # estimates (it counts what the guard never saw, a system prompt, reasoning).
        if ctx.reported_input is not None:
            ctx.input_tokens = ctx.reported_input
        if ctx.reported_output is not None:
            ctx.output_tokens = ctx.reported_output
        yield from self._settle(ctx, ctx.input_tokens, ctx.output_tokens)
        self._audit(ctx, "error" if failed else "flag" if ctx.flagged else "allow", None)

    def _settle(self, ctx: Context, input_tokens: int, output_tokens: int) -> _Steps:
        """Reconcile the budget's reservation with what the request used (once)."""
        reserved, ctx.reservation = ctx.reservation, None
        if reserved is None:
            return
        try:
            yield _Call(
                self.budget,
                "charge",
                (ctx.identity, input_tokens, output_tokens, self.policy.model),
                fail_open=True,
                kwargs={"reserved": reserved},
            )
        except GuardError:  # the answer is out, or the request refused: record, do not fail
            ctx.reasons.append("budget_unavailable")

    def _audit(self, ctx: Context, decision: str, err: Optional[GuardError]) -> None:
        if not audit.wanted():
            return
        audit.emit(
            {
                "event": "ravelin.decision",
                "request_id": ctx.request_id,
                "decision": decision,
                "code": err.code if err is not None else None,
                "status": err.status if err is not None else ctx.status,
                "method": ctx.method,
                "route": ctx.route,
                "client_ip": ctx.client_ip,
                "key_id": ctx.key_id,
                "masked_key": ctx.masked_key,
                "owner": ctx.owner,
                "reasons": ctx.reasons,
                "rule_ids": sorted(set(ctx.rule_ids)) if ctx.rule_ids else [],
                "injection_score": round(ctx.injection_score, 4),
                "entities": dict(ctx.entities) if ctx.entities else {},
                "output_entities": dict(ctx.output_entities) if ctx.output_entities else {},
                "input_tokens": ctx.input_tokens,
                "output_tokens": ctx.output_tokens,
                "usage_reported": ctx.reported_input is not None
                or ctx.reported_output is not None,
                "latency_ms": round((time.perf_counter() - ctx.started) * 1000.0, 3),
            }
        )


class _TextFilter:
    """Output policy over a stream of text: redaction that never emits a split secret (the
    streaming redactor holds back only what could still become one) and, with a canary set,
    the last ``len(canary) - 1`` characters held back too so a split canary is still seen."""

    def __init__(self, guard: Guard, ctx: Context) -> None:
        self._guard = guard
        self._ctx = ctx
        policy = guard.policy
        # On a stream the status line is already sent, so output "block" redacts instead.
        redacts = policy.pii_output_action != "allow"
        self._redactor = ravelin.StreamRedactor() if redacts else None
        self._hold = len(policy.canary_token) - 1 if policy.canary_token else 0
        self._pending = ""

    def feed(self, text: str) -> str:
        if self._redactor is not None:
            text = self._redactor.push(text)
        return self._release(text, final=False)

    def close(self) -> str:
        """Everything held back; the filter stays usable (events may follow an SSE [DONE])."""
        text = ""
        if self._redactor is not None:
            text = self._redactor.finish()
            self._redactor = ravelin.StreamRedactor()
        return self._release(text, final=True)

    def _release(self, text: str, *, final: bool) -> str:
        text = self._pending + text
        self._guard._check_canary(self._ctx, text)
        cut = len(text) if final else max(0, len(text) - self._hold)
        self._pending = text[cut:]
        out = text[:cut]
        self._ctx.output_tokens += self._guard._tokens(out)
        return out


class StreamFilter:
    """Output policy over a streamed body, bytes in and bytes out, chunk by chunk.

    UTF-8 is decoded incrementally (a code point split across chunks waits for the rest). A
    plain stream is filtered as one text. Server-sent events are parsed: the text of their
    ``data`` (or, for JSON events, the delta text at one of the `_DELTA_PATHS`: OpenAI chat,
    Anthropic, the Responses API, Gemini) is filtered as one running text across events, so a
    secret split over several events is still caught; other JSON events are filtered whole.
    """

    def __init__(
        self, guard: Guard, ctx: Context, *, events: bool = False, inflate: Any = None
    ) -> None:
        self._guard = guard
        self._inflate = inflate  # a zlib decompressor when the body is gzip or deflate
        self._ctx = ctx
        self._text = _TextFilter(guard, ctx)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._events = events
        self._partial = ""
        self._template: Optional[tuple[list[str], Any, tuple[Any, Any]]] = None

    def feed(self, chunk: bytes) -> bytes:
        """Filtered output for one chunk (possibly empty while text is held back)."""
        if self._inflate is not None:
            chunk = _inflated(self._inflate, chunk, final=False)
        text = self._decoder.decode(chunk)
        if not self._events:
            return self._text.feed(text).encode()
        *complete, self._partial = (self._partial + text).replace("\r\n", "\n").split("\n\n")
        return "".join(self._event(raw) for raw in complete).encode()

    def close(self) -> bytes:
        """Everything still held back, filtered; call once at the end of the stream."""
        tail = _inflated(self._inflate, b"", final=True) if self._inflate is not None else b""
        text = self._decoder.decode(tail, final=True)
        if not self._events:
            return (self._text.feed(text) + self._text.close()).encode()
        rest = (self._partial + text).replace("\r\n", "\n")
        self._partial = ""
        out = "".join(self._event(raw) for raw in rest.split("\n\n") if raw.strip())
        return (out + self._flush()).encode()

    def _event(self, raw: str) -> str:
        fields: list[str] = []
        data: list[str] = []
        for line in raw.split("\n"):
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])
            else:
                fields.append(line)
        if not data:
            # Comments, keep-alives, event/id/retry-only events: no text of the answer, but
            # what a client may still read is checked whole (a handler writing text without
            # `data:` would otherwise pass it unfiltered).
            return self._guard.filter_text(self._ctx, raw) + "\n\n"
        payload = "\n".join(data)
        if payload == "[DONE]":
            return self._flush() + raw + "\n\n"
        value = _json_container(payload)
        if value is None:  # plain text data: part of the running text
            released = self._text.feed(payload)
            return _sse(fields, released) if released else ""
        if self._ctx.prompts and "usage" in payload:  # also "usageMetadata"; see report_usage
            self._ctx.report_usage(*ravelin._core.reported_usage(payload))
        slots = _prompt_slots(value, _DELTA_PATHS)
        ends = _ends_text(value)
        if not slots:
            # Held-back text goes out before the event that ends the text, not after it.
            before = self._flush() if ends else ""
            value, _ = self._guard.filter_json(self._ctx, value)
            return before + _sse(fields, _json_text(value))
        container, key = slots[0]
        text = self._text.feed(container[key])
        container[key] = text + self._text.close() if ends else text
        self._template = (fields, value, slots[0])
        return _sse(fields, _json_text(value))

    def _flush(self) -> str:
        """Held-back text as one more event (shaped like the last delta event, if any)."""
        rest = self._text.close()
        if not rest:
            return ""
        if self._template is None:
            return _sse([], rest)
        fields, value, (container, key) = self._template
        container[key] = rest
        return _sse(fields, _json_text(value))


@functools.lru_cache(maxsize=64)
def _rate_policy(limit: int, window: float) -> tuple[str, str]:
    """The ``RateLimit-Policy`` and ``X-RateLimit-Limit`` values: the same for every request
    under one limit, so made once."""
    return f'"default";q={limit};w={math.ceil(window)}', str(limit)


def _json_container(payload: str) -> Any:
    """A JSON object or array, or None (plain text, including text that happens to be a number)."""
    if not payload.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None


def output_decoder(content_encoding: str) -> Any:
    """What reads an answer sent with this ``Content-Encoding``: None for none, a zlib
    decompressor for gzip or deflate. Another coding cannot be read, and an answer the output
    policy cannot read is not sent: `ContentBlockedError`."""
    coding = content_encoding.strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(wbits=47)  # a gzip or a zlib header, told apart by the data
    raise ContentBlockedError("output_encoding")


def _inflated(decoder: Any, data: bytes, *, final: bool) -> bytes:
    """What ``data`` decodes to; with ``final``, the rest, and the stream must be whole."""
    try:
        out: bytes = decoder.decompress(data)
        if final:
            out += decoder.flush()
    except zlib.error:
        raise ContentBlockedError("output_encoding") from None
    if final and not decoder.eof:  # cut short: its end was never seen
        raise ContentBlockedError("output_encoding")
    return out


def _ends_text(event: Any) -> bool:
    """Whether a streamed JSON event closes the answer's text: an OpenAI chunk with a
    ``finish_reason``, a Gemini chunk with a ``finishReason``, one of the `_TEXT_END_TYPES`
    (Anthropic's block and message ends, the Responses API's text and response ends)."""
    if not isinstance(event, dict):
        return False
    if event.get("type") in _TEXT_END_TYPES:
        return True
    first = _first(event.get("choices")) or _first(event.get("candidates"))
    return first is not None and (
        first.get("finish_reason") is not None or first.get("finishReason") is not None
    )


def _first(items: Any) -> Optional[dict]:
    """The first item of a list of objects (OpenAI's choices, Gemini's candidates)."""
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return None


def body_after(ctx: Context) -> Optional[bytes]:
    """The request body as the checks left it, when they rewrote prompts in it (else None):
    what an adapter puts in place of the framework's cached raw bytes, so that a handler
    forwarding the raw body (a proxy) sends the redacted prompts too."""
    return _json_text(ctx.json).encode() if ctx.rewritten else None


def _json_text(value: Any) -> str:
    """Compact JSON of a filtered value. Lone surrogates (from ``\\ud800``-style escapes in the
    handler's output) stay escaped, so that the text still encodes as UTF-8."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))
    return text


def _sse(fields: list[str], data: str) -> str:
    lines = [*fields, *("data: " + line for line in data.split("\n"))]
    return "\n".join(lines) + "\n\n"


def request_kind(content_type: str) -> str:
    """How the input checks read a request body: "form" (URL-encoded or multipart: its text
    fields), "text" (the whole body), else "json" (whatever it claims to be, so that nothing an
    endpoint may parse goes unchecked)."""
    mime = content_type.partition(";")[0].strip().lower()
    if mime in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return "form"
    if mime.startswith("text/"):
        return "text"
    return "json"


def body_kind(content_type: str) -> Optional[str]:
    """How output policy reads a body: "json", "stream" (SSE), "text", or None (binary)."""
    mime = content_type.partition(";")[0].strip().lower()
    if mime == "application/json" or mime.endswith("+json"):
        return "json"
    if mime == "text/event-stream":
        return "stream"
    if mime.startswith("text/") or mime == "application/x-ndjson":
        return "text"
    return None


def request_id_from(candidate: str) -> str:
    """The client's request id when it is short and plain (it reaches logs), else a new one."""
    if candidate and len(candidate) <= 64 and _REQUEST_ID_CHARS.issuperset(candidate):
        return candidate
    return f"{_request_ids.getrandbits(128):032x}"


# Request ids must be unique, not secret: a generator seeded from the OS, not one getrandom
# call per request (a system call costs ~12 µs inside a request here, against 0.7 µs in a
# loop). Its own instance, so an application seeding `random` cannot repeat ids; reseeded in
# a forked child, so workers forked from one parent do not share them.
_request_ids = random.Random()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_request_ids.seed)


def error_response(
    err: GuardError,
    request_id: str,
    headers: Optional[Mapping[str, str]] = None,
    *,
    www_authenticate: str = 'Bearer realm="api"',
) -> ErrorResponse:
    """``{"error": {"code", "message", "request_id"}}`` with the denial's headers; no internals."""
    out = dict(headers or {})
    out.update(err.headers)
    if err.status == 401:
        out["WWW-Authenticate"] = www_authenticate
    out["Content-Type"] = "application/json"
    body = json.dumps(
        {"error": {"code": err.code, "message": err.public_message, "request_id": request_id}},
        separators=(",", ":"),
    ).encode()
    return ErrorResponse(err.status, out, body)


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError (invalid UTF-8)
        raise InvalidRequestError("malformed_json") from None
    except RecursionError:
        raise InvalidRequestError("json_too_deep") from None


def _prompt_slots(value: Any, paths: tuple[tuple[PathSegment, ...], ...]) -> list[tuple[Any, Any]]:
    """(container, key) of every string at the prompt paths, so it can be read and replaced."""
    found: list[tuple[Any, Any]] = []
    for path in paths:
        _walk(value, path, 0, found)
    return found


def _walk(value: Any, path: tuple[PathSegment, ...], depth: int, found: list) -> None:
    head = path[depth]
    if head is WILDCARD:
        if not isinstance(value, list):
            return
        keys: Any = range(len(value))
    elif isinstance(head, int):
        if not isinstance(value, list) or head >= len(value):
            return
        keys = (head,)
    else:
        if not isinstance(value, dict) or head not in value:
            return
        keys = (head,)
    last = depth + 1 == len(path)
    for key in keys:
        child = value[key]
        if not last:
            _walk(child, path, depth + 1, found)
        elif isinstance(child, str):
            found.append((value, key))


def _string_slots(value: Any) -> Generator[tuple[Any, Any], None, None]:
    """(container, key) of every string anywhere inside a JSON value."""
    stack = [value]
    while stack:
        node = stack.pop()
        items: Any = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, child in items:
            if isinstance(child, str):
                yield node, key
            elif isinstance(child, (dict, list)):
                stack.append(child)


def _inspector(
    policy: Policy, paths: Optional[tuple[tuple[PathSegment, ...], ...]] = None
) -> Any:
    """The policy's text checks, compiled once into the core (for its prompt paths, or those
    given)."""
    threshold, disabled = policy.injection_threshold, policy.injection_disabled_rules
    own = threshold is not None or disabled
    return ravelin._core.GuardInspector(
        [list(path) for path in (paths or policy.prompt_paths)],
        scanner=_scanner(threshold, disabled) if own else None,
        block_injection=policy.injection_action == "block",
        pii_action=policy.pii_input_action,
        pii_entities=list(policy.pii_input_entities.items()),
        model=policy.model,
        max_field_chars=policy.max_field_chars,
        canary=policy.canary_token,
        output_pii=policy.pii_output_action != "allow",
    )


@functools.lru_cache(maxsize=8)
def _scanner(threshold: Optional[float], disabled: tuple[str, ...]) -> Any:
    """A scanner with its own threshold and rules, built once for every inspector that asks
    for it (a scanner compiles every rule: tens of milliseconds and megabytes)."""
    return ravelin.Scanner(threshold=threshold, disabled_rules=list(disabled))


def _limiter(policy: Policy, limits: str, *, prefix: str) -> Any:
    """In-process, or in Redis when the policy names one; None for no limit."""
    if not limits:
        return None
    if policy.redis_url is None:
        return ravelin.RateLimiter(limits)
    return RedisRateLimiter(
        policy.redis_url,
        limits,
        fail_open=policy.fail_open,
        timeout=policy.redis_timeout,
        prefix=prefix,
    )


def _default_budget(policy: Policy) -> Any:
    limits: dict[str, Any] = {
        "tokens_per_day": policy.tokens_per_day,
        "tokens_per_month": policy.tokens_per_month,
        "cost_per_day": policy.cost_per_day,
        "cost_per_month": policy.cost_per_month,
    }
    if all(v is None for v in limits.values()):
        return None
    if policy.redis_url is None:
        return Budget(**limits)
    return RedisBudget(
        policy.redis_url, **limits, fail_open=policy.fail_open, timeout=policy.redis_timeout
    )


def _default_abuse(policy: Policy) -> Any:
    if not policy.abuse_threshold:
        return None
    settings: dict[str, Any] = {
        "threshold": policy.abuse_threshold,
        "window": policy.abuse_window,
        "penalty": policy.abuse_penalty,
    }
    if policy.redis_url is None:
        return AbuseGuard(**settings)
    return RedisAbuseGuard(
        policy.redis_url, **settings, fail_open=policy.fail_open, timeout=policy.redis_timeout
    )
