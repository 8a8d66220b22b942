"""Type stubs for ravelin's compiled core. Every public symbol is typed and documented here."""

__version__: str

class RavelinError(ValueError):
    """Base of every error raised by ravelin's core (bad arguments, rules, names)."""

class InvalidRuleError(RavelinError):
    """A user-supplied rule or pattern is invalid; the message names the rule."""

class UnknownNameError(RavelinError):
    """A model, encoding, entity or operator name is unknown; the message lists known names."""

# --- injection ---

# --- pii ---

# --- tokens ---
from collections.abc import Iterable  # noqa: E402

PRICES_AS_OF: str
"""Date (YYYY-MM-DD) of the shipped price list used by ``estimate_cost``."""

AUTO_EXACT_BELOW_CHARS: int
"""In ``mode="auto"``, texts shorter than this many characters are counted exactly."""

def count_tokens(text: str, encoding: str = "o200k_base") -> int:
    """Exact token count with the real BPE (``o200k_base`` or ``cl100k_base``).

    Identical to tiktoken's ``len(enc.encode_ordinary(text))``: special-token strings such as
    ``<|endoftext|>`` count as ordinary text. Lone surrogates count as U+FFFD.
    Raises ``UnknownNameError`` for another encoding.
    """

def estimate_tokens(
    text: str,
    model: str = "gpt-4o",
    *,
    encoding: str | None = None,
    mode: str = "auto",
    margin: float = 1.0,
) -> int:
    """Token count of ``text`` for ``model``, rounded up.

    ``mode``: ``"exact"`` runs the BPE, ``"fast"`` the character-class estimator (hundreds of MB/s,
    about 2.5% mean error), ``"auto"`` (default) is exact below ``AUTO_EXACT_BELOW_CHARS``
    characters and estimated above. The model table picks the encoding and a correction factor
    for models whose tokenizer is not bundled; ``encoding`` overrides it (then an unknown model
    is accepted). ``margin`` (within [1, 10]) multiplies the result for budget checks.
    Raises ``UnknownNameError`` for an unknown model without ``encoding``.
    """

def estimate_tokens_batch(
    texts: Iterable[str],
    model: str = "gpt-4o",
    *,
    encoding: str | None = None,
    mode: str = "auto",
    margin: float = 1.0,
) -> list[int]:
    """``estimate_tokens`` for many texts, in parallel with the GIL released."""

def estimate_cost(
    model: str,
    input_tokens: int,
    output_tokens: int = 0,
    *,
    prices: tuple[float, float] | None = None,
) -> float:
    """USD for the given tokens at the model's listed price (see ``PRICES_AS_OF``).

    ``prices`` = (input, output) USD per million tokens overrides the table for this call.
    Raises ``UnknownNameError`` when the model is unknown or has no listed price.
    """

def register_model(model: str, encoding: str, factor: float = 1.0) -> None:
    """Adds or replaces a model in the process-wide table (``factor`` within (0, 10])."""

def set_price(model: str, input_price: float, output_price: float) -> None:
    """Sets a known model's price (USD per million tokens) for the whole process."""

def model_table() -> dict[str, dict[str, str | float | None]]:
    """The model table: name -> {encoding, factor, input_price, output_price}."""

def _token_features(text: str) -> list[tuple[str, int]]:
    """The estimator's raw feature counts, by name (for ``tools/fit_tokens.py``; not public)."""

# --- keys ---

# --- limits ---

