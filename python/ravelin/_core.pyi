"""Type stubs for ravelin's compiled core. Every public symbol is typed and documented here."""

__version__: str

class RavelinError(ValueError):
    """Base of every error raised by ravelin's core (bad arguments, rules, names)."""

class InvalidRuleError(RavelinError):
    """A user-supplied rule or pattern is invalid; the message names the rule."""

class UnknownNameError(RavelinError):
    """A model, encoding, entity or operator name is unknown; the message lists known names."""

# --- injection ---
from collections.abc import Iterable, Mapping, Sequence  # noqa: E402
from typing import Union, final  # noqa: E402

@final
class Match:
    """One rule that matched: ``start``/``end`` are code-point offsets into the scanned text."""

    @property
    def rule_id(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...

@final
class ScanResult:
    """The verdict on one text: ``flagged`` when ``score`` (0..1) reaches the threshold."""

    @property
    def flagged(self) -> bool: ...
    @property
    def score(self) -> float: ...
    @property
    def matches(self) -> list[Match]: ...

@final
class Scanner:
    """A prompt-injection detector with its own threshold, extra rules and disabled rules.

    ``extra_rules``: dicts with ``id``, ``category`` (default "custom"), ``weight`` in (0, 1]
    (default 1.0) and either ``phrases`` (str or list of str, matched as whole words after
    normalization) or ``pattern`` (a regex on the normalized word view, or on the original
    text with ``view="raw"``). Raises ``InvalidRuleError`` naming a bad rule, ``ValueError``
    naming ``threshold`` when it is outside (0, 1] (None: the default, 0.44), and
    ``UnknownNameError`` for an unknown id in ``disabled_rules``.
    """

    def __new__(
        cls,
        *,
        threshold: float | None = None,
        extra_rules: Iterable[Mapping[str, Union[str, float, Sequence[str]]]] | None = None,
        disabled_rules: Sequence[str] | None = None,
    ) -> Scanner: ...
    @property
    def threshold(self) -> float: ...
    @property
    def rule_ids(self) -> list[str]: ...
    def scan(self, text: str) -> ScanResult:
        """Scans one text."""
    def scan_batch(self, texts: Iterable[str]) -> list[ScanResult]:
        """Scans many texts in parallel, without the GIL."""

def scan(text: str) -> ScanResult:
    """Scans one text with the built-in rules and the default threshold."""

def scan_batch(texts: Iterable[str]) -> list[ScanResult]:
    """Scans many texts in parallel (rayon, GIL released)."""

# --- pii ---

# --- tokens ---

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
def generate_key(prefix: str = "rk_live") -> str:
    """A new API key: ``prefix`` + ``_`` + 33 base62 characters from the OS CSPRNG (196 bits) +
    a 6-character base62 CRC32 checksum. Raises ``ValueError`` naming ``prefix`` unless it is 1
    to 32 lowercase ASCII letters, digits and underscores (starting with a letter, not ending
    with an underscore)."""

def check_key_format(key: str, prefix: str | None = None) -> bool:
    """True when ``key`` is well formed (valid prefix, base62 body, matching checksum) and, if
    ``prefix`` is given, has exactly that prefix. Touches no storage; never raises for a str."""

def hash_key(key: str, pepper: str | bytes | None = None) -> str:
    """The digest to store: SHA-256 of ``key``, or HMAC-SHA256 keyed by ``pepper``, as 64
    lowercase hex characters. Raises ``ValueError`` unless ``key`` is 1 to 256 printable ASCII
    characters, or if ``pepper`` is empty."""

def verify_key(key: str, digest: str, pepper: str | bytes | None = None) -> bool:
    """True when ``key`` hashes to ``digest`` (hex, either case), compared in constant time.
    False for a key ``hash_key`` would refuse or a malformed digest; ``ValueError`` only for an
    empty ``pepper``."""

def mask_key(key: str) -> str:
    """A log-safe form: ``rk_live_AbC…xYz9`` for a well-formed key; at most the last 4 ASCII
    alphanumerics of anything else of 20+ characters; ``…`` alone otherwise."""

def key_id(digest: str) -> str:
    """A short non-secret id (``key_`` + 16 hex) derived from a ``hash_key`` digest, for logs
    and lookups. Raises ``ValueError`` naming ``digest`` unless it is 64 hex characters."""

# --- limits ---
from typing import Callable, Optional, final  # noqa: E402 (sections merge in any order)

@final
class Decision:
    """The verdict on one rate-limit hit, with what `RateLimit`/`RateLimit-Policy` headers need.

    ``limit`` and ``window`` (seconds) describe the tightest limit: the one with the fewest units
    left; ``remaining`` and ``reset_after`` are its numbers. ``retry_after`` is 0 when allowed.
    """

    @property
    def allowed(self) -> bool: ...
    @property
    def remaining(self) -> int: ...
    @property
    def reset_after(self) -> float: ...
    @property
    def retry_after(self) -> float: ...
    @property
    def limit(self) -> int: ...
    @property
    def window(self) -> float: ...
    def __new__(
        cls,
        *,
        allowed: bool,
        remaining: int,
        reset_after: float,
        retry_after: float,
        limit: int,
        window: float,
    ) -> Decision: ...

@final
class RateLimiter:
    """In-process limiter: ``RateLimiter("100/minute; 1000/day", algorithm="gcra")``.

    ``algorithm`` is ``"gcra"`` or ``"sliding_window"``. A hit is allowed only if every limit
    allows it; a denial consumes nothing. Thread-safe, O(1) per hit, stale keys evicted without
    a background thread. ``clock`` (monotonic seconds) is for tests and simulations.
    """

    def __new__(
        cls,
        limits: str,
        algorithm: str = "gcra",
        *,
        clock: Optional[Callable[[], float]] = None,
    ) -> RateLimiter: ...
    def hit(self, key: str, cost: int = 1) -> Decision:
        """Consume ``cost`` units for ``key`` if every limit allows it."""
    def peek(self, key: str, cost: int = 1) -> Decision:
        """Whether ``hit`` would allow ``cost`` units now, and the units left; consumes nothing."""
    def reset(self, key: str) -> None:
        """Forget ``key``: its next hit starts with every limit full."""
    @property
    def limits(self) -> list[tuple[int, float]]:
        """Each limit as (count, window in seconds), in the order written."""
    @property
    def algorithm(self) -> str: ...
    def __len__(self) -> int: ...

