"""Token counts and cost of whole chat requests (the counting itself is the Rust core's).

``estimate_request_cost`` is the guard's pre-check: what a request will cost at most, before it
is sent, from its messages and its ``max_output_tokens``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from ravelin._core import estimate_cost, estimate_tokens_batch

# OpenAI's chat format adds a few tokens around every message and before the reply
# (openai-cookbook, "How to count tokens with tiktoken"): 3 per message, 1 per name, 3 to prime.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_REPLY = 3

Messages = Iterable[Mapping[str, Any]]


@dataclass(frozen=True)
class RequestCost:
    """The tokens a request may use and their price in USD (input plus the output ceiling)."""

    input_tokens: int
    max_output_tokens: int
    usd: float


def _message_texts(messages: Messages) -> tuple[list[str], int]:
    """The texts of an OpenAI-style chat list, and the format's fixed overhead in tokens."""
    texts: list[str] = []
    overhead = TOKENS_PER_REPLY
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"messages: item {i} must be a dict, got {type(message).__name__}")
        overhead += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content" and isinstance(value, list):
                # Multimodal parts: text parts count; images and audio are priced elsewhere.
                for part in value:
                    if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                        texts.append(part["text"])
            elif isinstance(value, str):
                texts.append(value)
                if key == "name":
                    overhead += TOKENS_PER_NAME
            elif value is not None and key == "content":
                raise TypeError(f"messages: item {i} content must be str or a list of parts")
    return texts, overhead


def count_request_tokens(
    messages_or_text: Union[str, Messages],
    model: str = "gpt-4o",
    *,
    encoding: str | None = None,
    mode: str = "auto",
    margin: float = 1.0,
) -> int:
    """Input tokens of a prompt string or an OpenAI chat list (``[{"role", "content"}, ...]``)."""
    if isinstance(messages_or_text, str):
        texts, overhead = [messages_or_text], 0
    else:
        texts, overhead = _message_texts(messages_or_text)
    counts = estimate_tokens_batch(texts, model, encoding=encoding, mode=mode, margin=margin)
    return sum(counts) + overhead


def estimate_request_cost(
    messages_or_text: Union[str, Messages],
    model: str,
    max_output_tokens: int = 0,
    *,
    encoding: str | None = None,
    mode: str = "auto",
    margin: float = 1.0,
    prices: tuple[float, float] | None = None,
) -> RequestCost:
    """The most a request can cost: its input tokens plus ``max_output_tokens``, priced.

    ``prices`` (USD per million input and output tokens) overrides the table for this call.
    """
    if isinstance(max_output_tokens, bool) or not isinstance(max_output_tokens, int):
        raise TypeError("max_output_tokens: must be an int")
    if max_output_tokens < 0:
        raise ValueError(f"max_output_tokens: must be >= 0, got {max_output_tokens}")
    tokens = count_request_tokens(
        messages_or_text, model, encoding=encoding, mode=mode, margin=margin
    )
    usd = estimate_cost(model, tokens, max_output_tokens, prices=prices)
    return RequestCost(tokens, max_output_tokens, usd)
