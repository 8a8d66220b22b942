"""The behaviour table shared with `cargo test`, run through the Python bindings."""

from __future__ import annotations

import pathlib
import sys

import pytest
import ravelin

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older interpreters only
    import tomli as tomllib

CASES = tomllib.loads(
    (pathlib.Path(__file__).parents[1] / "data" / "injection_cases.toml").read_text("utf-8")
)["case"]


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:40] for c in CASES])
def test_case(case: dict) -> None:
    result = ravelin.scan(case["text"])
    assert result.flagged is case["flagged"], result
    if "category" in case:
        assert case["category"] in {m.category for m in result.matches}, result


def test_batch_agrees_with_single_scans() -> None:
    texts = [c["text"] for c in CASES]
    batch = ravelin.scan_batch(texts)
    assert [r.flagged for r in batch] == [ravelin.scan(t).flagged for t in texts]
    assert [r.score for r in batch] == [ravelin.scan(t).score for t in texts]
