"""``ravelin tokens`` on real files."""

from __future__ import annotations

import argparse
import json
import pathlib
from collections.abc import Sequence

import pytest
import ravelin
from ravelin.cli import tokens as tokens_cli


def main(argv: Sequence[str]) -> int:
    """``ravelin.cli.main`` restricted to this command (other commands are not under test)."""
    parser = argparse.ArgumentParser(prog="ravelin")
    tokens_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_counts_each_line_exactly(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    lines = ["Hello, world!", "Ein längerer Satz auf Deutsch.", "東京都は日本の首都です。"]
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    assert main(["tokens", str(path), "--model", "gpt-4", "--exact"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["tokens"] for r in rows] == [ravelin.count_tokens(t, "cl100k_base") for t in lines]
    assert [r["line"] for r in rows] == [1, 2, 3]
    price = ravelin.model_table()["gpt-4"]["input_price"]
    assert rows[0]["input_usd"] == pytest.approx(rows[0]["tokens"] * price / 1e6)


def test_jsonl_field_table_and_margin(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "rows.jsonl"
    text = "a prompt inside JSON " * 20
    path.write_text(json.dumps({"p": {"text": text}}) + "\n", encoding="utf-8")
    args = ["tokens", str(path), "--field", "p.text", "--format", "table", "--margin", "1.5"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["line", "chars", "tokens", "input_usd"]
    expected = ravelin.estimate_tokens(text, "gpt-4o", margin=1.5)
    assert out[1].split()[:3] == ["1", str(len(text)), str(expected)]


def test_unpriced_model_reports_tokens_only(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "one.txt"
    path.write_text("some words\n", encoding="utf-8")
    assert main(["tokens", str(path), "--model", "my-llm", "--encoding", "o200k_base"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row == {"line": 1, "chars": 10, "tokens": ravelin.count_tokens("some words")}


def test_bad_model_exits_2_naming_it(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "one.txt"
    path.write_text("x\n", encoding="utf-8")
    assert main(["tokens", str(path), "--model", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err
