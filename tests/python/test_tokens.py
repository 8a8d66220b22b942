"""Token counts, estimates, model table and prices through the Python API."""

from __future__ import annotations

import json
import math
import pathlib

import pytest
import ravelin
import tiktoken_ref

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES = json.loads((ROOT / "tests" / "data" / "tokens_exact.json").read_text(encoding="utf-8"))
ENCODINGS = ("o200k_base", "cl100k_base")


def _corpus() -> list[dict]:
    # shared/ sits beside the project (CI) or beside the worktrees' parent (development).
    for base in ROOT.parents:
        path = base / "shared" / "corpus" / "tokens" / "train.jsonl"
        if path.exists():
            return [json.loads(line) for line in path.open(encoding="utf-8")]
    raise FileNotFoundError("shared/corpus/tokens/train.jsonl not found above the project")


CORPUS = _corpus()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_exact_counts_equal_tiktoken_on_every_corpus_text(encoding: str) -> None:
    reference = tiktoken_ref.encoding(encoding)
    short = encoding.split("_")[0]
    for row in CORPUS:
        expected = len(reference.encode_ordinary(row["text"]))
        assert expected == row[short]  # the reference is the tokenizer the corpus came from
        assert ravelin.count_tokens(row["text"], encoding) == expected, row["text"][:80]
    # Past 1 MB the count runs in parallel chunks: the sum must still be tiktoken's.
    joined = "\n".join(row["text"] for row in CORPUS) * 2
    assert ravelin.count_tokens(joined, encoding) == len(reference.encode_ordinary(joined))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_exact_counts_equal_tiktoken_on_tricky_cases(encoding: str) -> None:
    reference = tiktoken_ref.encoding(encoding)
    for case in CASES:
        assert case[encoding] == len(reference.encode_ordinary(case["text"]))
        assert ravelin.count_tokens(case["text"], encoding=encoding) == case[encoding]


def test_auto_mode_is_exact_below_the_threshold_and_close_above() -> None:
    for row in CORPUS:
        text, exact = row["text"], row["o200k"]
        auto = ravelin.estimate_tokens(text, "gpt-4o")
        if len(text) < ravelin.AUTO_EXACT_BELOW_CHARS:
            assert auto == exact
        else:
            assert abs(auto / exact - 1) < 0.2, (row["category"], auto, exact)


def test_fast_mode_is_close_on_long_texts_of_every_category() -> None:
    errors: dict[str, list[float]] = {}
    for row in CORPUS:
        if len(row["text"]) >= 1000:
            est = ravelin.estimate_tokens(row["text"], "gpt-4", mode="fast")
            errors.setdefault(row["category"], []).append(abs(est / row["cl100k"] - 1))
    assert len(errors) == 13
    for category, errs in errors.items():
        assert sum(errs) / len(errs) < 0.06, category


def test_models_pick_their_encoding() -> None:
    text = CORPUS[0]["text"] + " München 東京"
    o200k = ravelin.count_tokens(text, "o200k_base")
    cl100k = ravelin.count_tokens(text, "cl100k_base")
    for model in ("gpt-4o", "gpt-4o-2024-08-06", "gpt-4.1-mini", "o3", "openai/gpt-5"):
        assert ravelin.estimate_tokens(text, model, mode="exact") == o200k, model
    for model in ("gpt-4", "gpt-4-0613", "gpt-3.5-turbo", "text-embedding-3-small"):
        assert ravelin.estimate_tokens(text, model, mode="exact") == cl100k, model
    table = ravelin.model_table()
    factor = table["claude"]["factor"]
    assert factor > 1
    assert ravelin.estimate_tokens(text, "claude-3-5-haiku-20241022", mode="exact") == math.ceil(
        cl100k * factor
    )


def test_unknown_model_lists_known_names_unless_an_encoding_is_given() -> None:
    with pytest.raises(ravelin.UnknownNameError, match="gpt-4o") as info:
        ravelin.estimate_tokens("hello", "my-private-llm")
    assert isinstance(info.value, ValueError)
    exact = ravelin.count_tokens("hello there", "cl100k_base")
    assert ravelin.estimate_tokens("hello there", "my-private-llm", encoding="cl100k_base") == exact
    with pytest.raises(ravelin.UnknownNameError, match="encoding"):
        ravelin.count_tokens("hello", encoding="p50k_base")


def test_registered_model_and_price_apply_process_wide() -> None:
    ravelin.register_model("test-tokens-llm", "cl100k_base", factor=2.0)
    text = "counted with a registered model"
    expected = 2 * ravelin.count_tokens(text, "cl100k_base")
    assert ravelin.estimate_tokens(text, "test-tokens-llm-v2", mode="exact") == expected
    with pytest.raises(ravelin.UnknownNameError, match="no price"):
        ravelin.estimate_cost("test-tokens-llm", 10, 10)
    ravelin.set_price("test-tokens-llm", 1.0, 4.0)
    assert ravelin.estimate_cost("test-tokens-llm", 1_000_000, 500_000) == pytest.approx(3.0)
    assert ravelin.model_table()["test-tokens-llm"]["output_price"] == 4.0


def test_cost_from_the_table_and_per_call() -> None:
    row = ravelin.model_table()["gpt-4o"]
    usd = ravelin.estimate_cost("gpt-4o", 2_000_000, 1_000_000)
    assert usd == pytest.approx(2 * row["input_price"] + row["output_price"])
    assert ravelin.estimate_cost("gpt-4o", 1_000_000, 0, prices=(7.0, 9.0)) == pytest.approx(7.0)
    assert len(ravelin.PRICES_AS_OF) == 10
    with pytest.raises(ValueError, match="input_tokens"):
        ravelin.estimate_cost("gpt-4o", -1, 0)
    with pytest.raises(ValueError, match="output_price"):
        ravelin.estimate_cost("gpt-4o", 1, 1, prices=(1.0, float("nan")))


def test_request_cost_counts_messages_with_the_chat_overhead() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "name": "ada", "content": [{"type": "text", "text": "Hi there"}]},
    ]
    encode = tiktoken_ref.encoding("o200k_base").encode_ordinary
    # openai-cookbook's count: 3 per message + every string value + 1 per name + 3 to prime.
    expected = (
        3 * 2
        + 1
        + 3
        + sum(len(encode(s)) for s in ("system", "You are terse.", "user", "ada", "Hi there"))
    )
    cost = ravelin.estimate_request_cost(messages, "gpt-4o", max_output_tokens=1000)
    assert cost.input_tokens == expected
    prices = ravelin.model_table()["gpt-4o"]
    usd = (expected * prices["input_price"] + 1000 * prices["output_price"]) / 1e6
    assert cost.usd == pytest.approx(usd)
    plain = ravelin.estimate_request_cost("just text", "gpt-4o", 0, prices=(1e6, 0.0))
    assert plain.usd == pytest.approx(ravelin.count_tokens("just text"))
    with pytest.raises(TypeError, match="messages"):
        ravelin.estimate_request_cost(["not a dict"], "gpt-4o", 10)
    with pytest.raises(ValueError, match="max_output_tokens"):
        ravelin.estimate_request_cost("x", "gpt-4o", -5)


def test_margin_scales_up_and_bad_arguments_name_themselves() -> None:
    text = "a budget check with a margin " * 100
    plain = ravelin.estimate_tokens(text, mode="exact")
    assert ravelin.estimate_tokens(text, mode="exact", margin=1.05) == math.ceil(plain * 1.05)
    for kwargs, name in (
        ({"mode": "slow"}, "mode"),
        ({"margin": 0.5}, "margin"),
        ({"margin": float("inf")}, "margin"),
    ):
        with pytest.raises(ValueError, match=name):
            ravelin.estimate_tokens(text, **kwargs)
    with pytest.raises(TypeError):
        ravelin.estimate_tokens(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="texts"):
        ravelin.estimate_tokens_batch(["ok", 3])  # type: ignore[list-item]


def test_batch_equals_one_by_one() -> None:
    texts = [row["text"] for row in CORPUS[::7]]
    for mode in ("auto", "fast", "exact"):
        one = [ravelin.estimate_tokens(t, "gpt-4", mode=mode) for t in texts]
        assert ravelin.estimate_tokens_batch(texts, "gpt-4", mode=mode) == one


def test_hostile_text() -> None:
    assert ravelin.count_tokens("") == 0
    assert ravelin.estimate_tokens("", mode="fast") == 0
    # Lone surrogates count as U+FFFD, one for one; NUL is ordinary text.
    assert ravelin.count_tokens("a\ud800b\udfff") == ravelin.count_tokens("a\ufffdb\ufffd")
    reference = tiktoken_ref.encoding("cl100k_base")
    assert ravelin.count_tokens("x\0y\0\0", "cl100k_base") == len(
        reference.encode_ordinary("x\0y\0\0")
    )
    # A 10 MB "word" without spaces: one pre-token, the BPE's worst case; counted exactly in
    # linear time (periodic text: ten times the text, ten times the tokens).
    word = "qzjxv" * 2_000_000
    exact = ravelin.count_tokens(word)
    assert exact == pytest.approx(10 * ravelin.count_tokens("qzjxv" * 200_000), rel=0.001)
    prefix = "qzjxv" * 1000
    assert ravelin.count_tokens(prefix) == len(
        tiktoken_ref.encoding("o200k_base").encode_ordinary(prefix)
    )
    assert 0.5 < ravelin.estimate_tokens(word, mode="fast") / exact < 2
    # 100 MB of mixed text: the estimator (auto mode), linear time.
    unit = "\n".join(row["text"] for row in CORPUS[:300])
    copies = 100_000_000 // len(unit.encode()) + 1
    n = ravelin.estimate_tokens(unit * copies)
    assert n == pytest.approx(copies * ravelin.estimate_tokens(unit, mode="fast"), rel=0.01)
