"""One structured audit event per guard decision.

Events go to the stdlib logger ``ravelin.audit`` as one JSON object per record (the dict is also
attached as ``record.ravelin`` for structured handlers). When ``prometheus_client`` is installed
(``pip install ravelin[metrics]``) decisions are counted and timed; when OpenTelemetry is
installed and a span is recording, the event's fields become span attributes. Events never hold
a raw key or matched text: the pipeline only ever puts the masked key, rule ids and entity
counts in them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Optional

logger = logging.getLogger("ravelin.audit")

try:
    import prometheus_client
except ImportError:  # optional extra
    prometheus_client = None

try:
    from opentelemetry import trace as _otel_trace
except ImportError:  # optional
    _otel_trace = None


class _Metrics:
    """Prometheus collectors, created once per process (the default registry rejects twins)."""

    def __init__(self) -> None:
        assert prometheus_client is not None
        self.decisions = prometheus_client.Counter(
            "ravelin_decisions",
            "Guard decisions by outcome and denial code.",
            ["decision", "code"],
        )
        self.latency = prometheus_client.Histogram(
            "ravelin_guard_latency_seconds",
            "Time from the guard seeing a request to its decision being final.",
            buckets=(1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.05, 0.1, 0.5, 1.0, 5.0),
        )
        self.entities = prometheus_client.Counter(
            "ravelin_pii_entities", "PII and secret entities found, by type.", ["entity_type"]
        )

        # `labels()` hashes and locks on every call: keep each labelled child once found.
        self._children: dict[tuple[Any, ...], Any] = {}

    def observe(self, event: Mapping[str, Any]) -> None:
        self._child(self.decisions, event["decision"], event.get("code") or "").inc()
        self.latency.observe(event["latency_ms"] / 1000.0)
        for entity_type, count in (event.get("entities") or {}).items():
            self._child(self.entities, entity_type).inc(count)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


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


def emit(event: Mapping[str, Any]) -> None:
    """Record one decision: log line, metrics, span attributes (each only when available)."""
    if logger.isEnabledFor(logging.INFO):
        if type(event) is not dict:  # the guard hands over a fresh dict: no copy needed
            event = dict(event)
        # makeRecord + handle is logger.info without its caller lookup (a stack walk per
        # event), which says nothing here: every event comes from this line.
        logger.handle(
            logger.makeRecord(
                logger.name,
                logging.INFO,
                __file__,
                0,
                _Line(event),
                None,
                None,
                extra={"ravelin": event},
            )
        )
    if _metrics is not None:
        _metrics.observe(event)
    if _otel_trace is not None:
        span = _otel_trace.get_current_span()
        if span.is_recording():
            span.set_attributes(
                {f"ravelin.{k}": _attribute(v) for k, v in event.items() if v is not None}
            )


def _attribute(value: Any) -> Any:
    """OpenTelemetry attributes are scalars or lists of one scalar type."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return json.dumps(value, separators=(",", ":"), default=str)
