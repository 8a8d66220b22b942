"""The PII behaviour table (tests/data/pii_cases.toml), run through the Python bindings."""

from __future__ import annotations

import pathlib

import pytest
import ravelin
import tomllib

CASES = tomllib.loads(
    (pathlib.Path(__file__).parent.parent / "data" / "pii_cases.toml").read_text(encoding="utf-8")
)["case"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict) -> None:
    found = ravelin.detect(case["text"])
    got = [[e.entity_type, e.text] for e in found]
    assert got == case["found"]
    for e in found:
        # Offsets are code points into the original text.
        assert case["text"][e.start : e.end] == e.text
        assert 0.0 < e.score <= 1.0


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_redaction_leaves_no_value(case: dict) -> None:
    redacted = ravelin.redact(case["text"]).text
    for entity_type, value in case["found"]:
        assert value not in redacted
        assert f"<{entity_type}>" in redacted
