"""``ravelin redact`` as a subprocess, on text and JSONL files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CMD = [sys.executable, "-m", "ravelin.cli.redact"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_text_lines_from_stdin() -> None:
    p = run("-", stdin="mail ana@example.org\n\ncard 4111 1111 1111 1111\n")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 3]
    assert rows[0]["text"] == "mail <EMAIL_ADDRESS>"
    assert rows[1]["entities"] == [{"type": "CREDIT_CARD", "start": 5, "end": 24, "score": 1.0}]
    assert "ana@example.org" not in p.stdout and "4111" not in p.stdout


def test_jsonl_field_operator_and_table(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(json.dumps({"msg": {"body": "key AKIAIOSFODNN7EXAMPLE"}}) + "\n", encoding="utf-8")
    p = run(str(f), "--field", "msg.body", "--operator", "mask", "--format", "table")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["line", "found", "text"]
    assert "AWS_ACCESS_KEY" in lines[1] and "****************MPLE" in lines[1]


def test_bad_input_exits_2_with_a_message(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text("{not json}\n", encoding="utf-8")
    p = run(str(f), "--field", "text")
    assert p.returncode == 2 and "line 1" in p.stderr
    p = run("-", "--entities", "NOPE", stdin="x\n")
    assert p.returncode == 2 and "EMAIL_ADDRESS" in p.stderr
    p = run(str(tmp_path / "missing.txt"))
    assert p.returncode == 2 and "cannot read" in p.stderr
