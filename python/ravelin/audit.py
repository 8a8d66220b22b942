"""One structured audit event per guard decision.

Events go to the stdlib logger ``ravelin.audit`` as one JSON object per record (the dict is also
attached as ``record.ravelin`` for structured handlers). When ``prometheus_client`` is installed
(``pip install ravelin[metrics]``) decisions are counted and timed; when OpenTelemetry is
installed and a span is recording, the event's fields become span attributes. The log record and
the metrics are written by a background thread, in batches (`flush` to wait for them); the span
attributes are set at once, on the request's span. Events never hold
a raw key or matched text: the pipeline only ever puts the masked key, rule ids and entity
counts in them.
"""

from __future__ import annotations

import atexit
import bisect
import collections
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Optional

logger = logging.getLogger("ravelin.audit")

try:
    import prometheus_client
except ImportError:  # optional extra
    prometheus_client = None  # type: ignore[assignment]

try:
    from opentelemetry import trace as _otel_trace
except ImportError:  # optional
    _otel_trace = None  # type: ignore[assignment]


_LATENCY_BUCKETS = (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.05, 0.1, 0.5, 1.0, 5.0)


class _Metrics:
    """Decision counts, the guard's latency histogram and PII entity counts, exported to
    Prometheus as a collector (registered once per process).

    Kept as plain numbers under one lock and turned into metric families when scraped: a
    labelled ``Counter`` and ``Histogram`` take a lock per value they change, about ten per
    request, where a scrape comes every few seconds.
    """

    def __init__(self) -> None:
        assert prometheus_client is not None
        self._lock = threading.Lock()
        self._decisions: dict[tuple[str, str], int] = {}
        self._entities: dict[str, int] = {}
        self._buckets = [0] * (len(_LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self._seconds = 0.0
        prometheus_client.REGISTRY.register(self)

    def observe(self, event: Mapping[str, Any]) -> None:
        key = (event["decision"], event.get("code") or "")
        seconds = event["latency_ms"] / 1000.0
        bucket = bisect.bisect_left(_LATENCY_BUCKETS, seconds)  # Prometheus buckets are <=
        entities = event.get("entities")
        with self._lock:
            self._decisions[key] = self._decisions.get(key, 0) + 1
            self._buckets[bucket] += 1
            self._seconds += seconds
            if entities:
                for entity_type, count in entities.items():
                    self._entities[entity_type] = self._entities.get(entity_type, 0) + count

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        with self._lock:
            decisions = dict(self._decisions)
            entities = dict(self._entities)
            buckets, seconds = list(self._buckets), self._seconds
        family = CounterMetricFamily(
            "ravelin_decisions", "Guard decisions by outcome and denial code.",
            labels=["decision", "code"],
        )
        for labels, count in decisions.items():
            family.add_metric(labels, count)
        yield family
        latency = HistogramMetricFamily(
            "ravelin_guard_latency_seconds",
            "Time from the guard seeing a request to its decision being final.",
        )
        bounds = [*map(floatToGoString, _LATENCY_BUCKETS), "+Inf"]
        latency.add_metric([], list(zip(bounds, itertools.accumulate(buckets))), seconds)
        yield latency
        family = CounterMetricFamily(
            "ravelin_pii_entities", "PII and secret entities found, by type.",
            labels=["entity_type"],
        )
        for entity_type, count in entities.items():
            family.add_metric([entity_type], count)
        yield family


_metrics = _Metrics() if prometheus_client is not None else None


def wanted() -> bool:
    """Whether an event would reach anything (log, metrics, a recording span): callers build
    one only then."""
    if _metrics is not None or logger.isEnabledFor(logging.INFO):
        return True
    return _otel_trace is not None and _otel_trace.get_current_span().is_recording()


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


class _Line:
    """The event as its log message: encoded to JSON only when a handler formats the record."""

    __slots__ = ("event", "text")

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.event = event
        self.text: Optional[str] = None

    def __str__(self) -> str:
        if self.text is None:
            self.text = _ENCODER.encode(self.event)
        return self.text


class _Writer:
    """Writes events to the log and the metrics on a background thread, in batches.

    Building a log record and running it through the handlers costs a request 3-4x more than
    the same work in a tight loop (its code and data are cold by then), so the request only
    queues the event; the thread wakes when the first event of a batch arrives, waits
    ``DELAY`` seconds for more, then writes them all in order. The records are made on that
    thread, through the logger as usual (levels, filters, handlers, record factory); what a
    filter reads from the request's thread or context variables is not there, the event's
    ``request_id`` is. `flush` writes what is queued now (tests, shutdown: it runs at exit).
    When handlers are slower than requests and ``MAX_PENDING`` events wait, the request that
    finds them writes them itself: memory stays bounded and a slow log slows the requests, as
    it did when every request wrote its own event.
    """

    DELAY = 0.02
    MAX_PENDING = 10_000

    def __init__(self) -> None:
        self._pending: collections.deque[Mapping[str, Any]] = collections.deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one writer at a time keeps the events in order
        self._thread: Optional[threading.Thread] = None

    def put(self, event: Mapping[str, Any]) -> None:
        self._pending.append(event)
        if len(self._pending) > self.MAX_PENDING:
            self.flush()
        elif not self._wake.is_set():
            if self._thread is None:
                self._start()
            self._wake.set()

    def flush(self) -> None:
        with self._lock:
            while self._pending:
                _write(self._pending.popleft())

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ravelin-audit", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.DELAY)
            self._wake.clear()
            self.flush()

    def _after_fork(self) -> None:
        """The child has none of the parent's threads: a fresh lock, a thread when needed, and
        none of the parent's queued events (the parent writes those)."""
        self._pending = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


def _write(event: Mapping[str, Any]) -> None:
    try:
        if logger.isEnabledFor(logging.INFO):
            # makeRecord + handle is logger.info without its caller lookup (a stack walk per
            # event), which says nothing here: every event comes from this line.
            logger.handle(
                logger.makeRecord(
                    logger.name,
                    logging.INFO,
                    __file__,
                    0,
                    _Line(event),
                    (),
                    None,
                    extra={"ravelin": event},
                )
            )
        if _metrics is not None:
            _metrics.observe(event)
    except Exception as exc:  # a broken handler or filter must not stop the writer
        logging.getLogger("ravelin.guard").error(
            "audit event not written (%s)", type(exc).__name__
        )


_writer = _Writer()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_writer._after_fork)
atexit.register(_writer.flush)


def emit(event: Mapping[str, Any]) -> None:
    """Record one decision: log line and metrics (queued, see `_Writer`), span attributes
    (now, on the request's own span)."""
    if _metrics is not None or logger.isEnabledFor(logging.INFO):
        # The guard hands over a fresh dict it never touches again: no copy needed.
        _writer.put(event if type(event) is dict else dict(event))
    if _otel_trace is not None:
        span = _otel_trace.get_current_span()
        if span.is_recording():
            span.set_attributes(
                {f"ravelin.{k}": _attribute(v) for k, v in event.items() if v is not None}
            )


def flush() -> None:
    """Write every event queued so far before returning (they are otherwise written within
    about 20 ms, and at exit)."""
    _writer.flush()


def _attribute(value: Any) -> Any:
    """OpenTelemetry attributes are scalars or lists of one scalar type."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return json.dumps(value, separators=(",", ":"), default=str)
