"""The audit writer: events reach the log in order, from a background thread or `flush`."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

import pytest
from ravelin import audit


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []
        self.threads: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(record.ravelin)  # type: ignore[attr-defined]
        self.threads.add(record.threadName)


@pytest.fixture
def records() -> Iterator[_Records]:
    audit.flush()  # nothing of an earlier test's
    handler = _Records()
    logger = logging.getLogger("ravelin.audit")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        audit.flush()
        logger.removeHandler(handler)
        logger.setLevel(level)


def _event(n: int) -> dict:
    return {"event": "ravelin.decision", "request_id": f"r{n}", "decision": "allow",
            "latency_ms": 0.1}


def test_events_are_written_by_the_background_thread_without_a_flush(records):
    audit.emit(_event(1))
    deadline = time.monotonic() + 10
    while not records.events and time.monotonic() < deadline:
        time.sleep(0.005)
    assert [e["request_id"] for e in records.events] == ["r1"]
    assert records.threads == {"ravelin-audit"}


def test_events_from_many_threads_are_each_written_once_in_order(records):
    def send(first: int) -> None:
        for n in range(first, first + 500):
            audit.emit(_event(n))

    threads = [threading.Thread(target=send, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    audit.flush()
    ids = [int(e["request_id"][1:]) for e in records.events]
    assert sorted(ids) == [k * 1000 + n for k in range(4) for n in range(500)]
    for k in range(4):  # each thread's events in the order it sent them
        mine = [i for i in ids if i // 1000 == k]
        assert mine == sorted(mine)


def test_a_writer_that_falls_behind_makes_the_requests_write(records):
    writer = audit._Writer()
    writer.DELAY = 60.0  # its thread wakes, then waits: nothing is written in the background
    writer.MAX_PENDING = 3
    for n in range(3):
        writer.put(_event(n))
    assert records.events == []  # queued
    writer.put(_event(3))  # one too many: this call writes them all, in order
    assert [e["request_id"] for e in records.events] == ["r0", "r1", "r2", "r3"]
    assert records.threads == {threading.current_thread().name}


def test_a_failing_filter_loses_that_event_only(records, caplog):
    failed = []

    def once(record: logging.LogRecord) -> bool:
        if not failed:
            failed.append(record)
            raise RuntimeError("broken filter")
        return True

    logger = logging.getLogger("ravelin.audit")
    logger.addFilter(once)
    try:
        with caplog.at_level(logging.ERROR, logger="ravelin.guard"):
            audit.emit(_event(1))
            audit.emit(_event(2))
            audit.flush()
    finally:
        logger.removeFilter(once)
    assert [e["request_id"] for e in records.events] == ["r2"]
    assert "audit event not written (RuntimeError)" in caplog.text
    assert "broken filter" not in caplog.text  # no exception text in the log


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_forked_child_writes_its_own_events_not_its_parents(records):
    read, write = os.pipe()
    with audit._writer._lock:  # the parent's writer cannot write the queued event yet
        audit.emit(_event(1))
        pid = os.fork()
        if pid == 0:  # child: report what it writes, then leave without running atexit
            try:
                audit.emit(_event(2))
                audit.flush()
                os.write(write, ",".join(e["request_id"] for e in records.events).encode())
            finally:
                os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    audit.flush()
    assert child == "r2"
    assert [e["request_id"] for e in records.events] == ["r1"]
