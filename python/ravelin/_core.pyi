"""Type stubs for ravelin's compiled core. Every public symbol is typed and documented here."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Callable, Optional, Union, final

__version__: str

class RavelinError(ValueError):
    """Base of every error raised by ravelin's core (bad arguments, rules, names)."""

class InvalidRuleError(RavelinError):
    """A user-supplied rule or pattern is invalid; the message names the rule."""

class UnknownNameError(RavelinError):
    """A model, encoding, entity or operator name is unknown; the message lists known names."""

# --- injection ---

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
    text with ``view="raw"``); optionally ``unless`` (a regex: a match in which it finds one is
    no evidence) and, on the word view, ``negatable`` (a bool: a match right after a negation,
    "never <match>", is no evidence, nor any match of its category inside it). Raises
    ``InvalidRuleError`` naming a bad rule, ``ValueError`` naming ``threshold`` when it is
    outside (0, 1] (None: the default, 0.445), and ``UnknownNameError`` for an unknown id in
    ``disabled_rules``.
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
# Imports stay inside this section so parallel branches merge cleanly.

@final
class Entity:
    """A detected PII value or secret; ``start``/``end`` are code points into the original text."""

    @property
    def entity_type(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def score(self) -> float: ...
    @property
    def text(self) -> str: ...

@final
class RedactResult:
    """The redacted text and the entities found (positions in the original text)."""

    @property
    def text(self) -> str: ...
    @property
    def entities(self) -> list[Entity]: ...

@final
class Vault:
    """Reversible pseudonyms for ``operator="pseudonymize"``: ``<EMAIL_ADDRESS_1>`` and back."""

    def __new__(cls) -> Vault: ...
    def restore(self, text: str) -> str:
        """Puts the original values back, also for tokens in another case or without brackets."""
    def clear(self) -> None:
        """Forgets every value."""
    def __len__(self) -> int: ...


_Operator = str | dict[str, str]

@final
class Detector:
    """A detector with its own entity set, allow-list (values never reported) and threshold."""

    def __new__(
        cls,
        entities: list[str] | None = None,
        *,
        allow_list: list[str] | None = None,
        threshold: float | None = None,
    ) -> Detector: ...
    def detect(self, text: str, entities: list[str] | None = None) -> list[Entity]: ...
    def add_entity(
        self,
        name: str,
        pattern: str,
        validator: str | None = None,
        context: list[str] | None = None,
        score: float = 0.6,
    ) -> None:
        """Adds a pattern entity to this detector only."""
    @property
    def entities(self) -> list[str]:
        """Every entity type this detector reports."""

@final
class Redactor:
    """A detector plus operators (``replace``, ``mask``, ``hash``, ``remove``, ``pseudonymize``),
    one for all entity types or a dict per type."""

    def __new__(
        cls,
        operator: _Operator | None = None,
        entities: list[str] | None = None,
        *,
        allow_list: list[str] | None = None,
        threshold: float | None = None,
        keep: int = 4,
        salt: str | None = None,
        vault: Vault | None = None,
        detector: Detector | None = None,
    ) -> Redactor: ...
    def detect(self, text: str) -> list[Entity]: ...
    def redact(self, text: str) -> RedactResult: ...
    def redact_batch(self, texts: Iterable[str]) -> list[RedactResult]: ...
    def stream(self, hold: int = 256) -> StreamRedactor:
        """A stream redactor with this redactor's settings."""

@final
class StreamRedactor:
    """Redacts a streamed answer chunk by chunk, holding back at most ``hold`` bytes so no
    secret is ever emitted split across two chunks."""

    def __new__(
        cls,
        operator: _Operator | None = None,
        entities: list[str] | None = None,
        *,
        keep: int = 4,
        salt: str | None = None,
        vault: Vault | None = None,
        hold: int = 256,
    ) -> StreamRedactor: ...
    def push(self, chunk: str) -> str:
        """Takes the next chunk; returns the redacted text that is safe to emit now."""
    def finish(self) -> str:
        """Returns everything still held; no chunk is accepted afterwards."""

def detect(text: str, entities: list[str] | None = None) -> list[Entity]:
    """PII and secrets in ``text`` (all built-in and added entity types, or ``entities``)."""

def redact(
    text: str,
    operator: _Operator | None = None,
    entities: list[str] | None = None,
    *,
    keep: int = 4,
    salt: str | None = None,
    vault: Vault | None = None,
) -> RedactResult:
    """Redacts ``text``; ``operator`` defaults to ``"replace"`` (``<EMAIL_ADDRESS>``)."""

def redact_batch(
    texts: Iterable[str],
    operator: _Operator | None = None,
    entities: list[str] | None = None,
    *,
    keep: int = 4,
    salt: str | None = None,
    vault: Vault | None = None,
) -> list[RedactResult]:
    """``redact`` over many texts in parallel, without the GIL."""

def add_entity(
    name: str,
    pattern: str,
    validator: str | None = None,
    context: list[str] | None = None,
    score: float = 0.6,
) -> None:
    """Adds a pattern entity (``validator`` names a built-in check such as ``"luhn"``) to
    ``detect``/``redact`` for the whole process."""

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


# --- guard ---

@final
class InputReport:
    """The verdict on one request's prompts, from ``GuardInspector.inspect``.

    ``prompts``: the strings at the prompt paths, as received; ``too_long``: one is longer than
    ``max_field_chars`` (then nothing else was checked); ``flagged``/``score``/``rule_ids``: the
    injection scan (highest score and matched rules among flagged prompts); ``entities``: PII
    counts by type, in order of first finding; ``blocked``: sorted types whose action is
    ``block`` (counting stopped after the first prompt holding one); ``redacted_prompts``:
    the prompts after redaction, when any changed (None otherwise); ``tokens``: their estimate.
    """

    @property
    def prompts(self) -> list[str]: ...
    @property
    def too_long(self) -> bool: ...
    @property
    def flagged(self) -> bool: ...
    @property
    def score(self) -> float: ...
    @property
    def rule_ids(self) -> list[str]: ...
    @property
    def entities(self) -> list[tuple[str, int]]: ...
    @property
    def blocked(self) -> list[str]: ...
    @property
    def redacted_prompts(self) -> list[str] | None: ...
    @property
    def tokens(self) -> int: ...

@final
class GuardInspector:
    """A guard policy's text checks, compiled once; the pipeline's one core call per request
    side (``ravelin.guard`` builds it from a ``Policy``).

    ``paths``: prompt-field paths, each a list of dict keys (str), list indices (int >= 0) and
    None (every list item); ``scanner``: the injection scanner (None: the built-in one);
    ``block_injection``: a flagged request is refused, so PII and tokens are skipped;
    ``pii_action`` / ``pii_entities``: the input PII action ("allow", "redact", "block") for
    every type and per type; ``model``: for token estimates; ``canary`` and ``output_pii``:
    what the output fast path looks for.
    """

    def __new__(
        cls,
        paths: Sequence[Sequence[str | int | None]],
        *,
        scanner: Scanner | None = None,
        block_injection: bool = True,
        pii_action: str = "redact",
        pii_entities: Sequence[tuple[str, str]] | None = None,
        model: str = "gpt-4o",
        max_field_chars: int = 1000000,
        canary: str | None = None,
        output_pii: bool = True,
    ) -> GuardInspector: ...
    def inspect(self, value: object) -> InputReport:
        """Finds the prompts in a parsed JSON body (dicts, lists, str); unless one is too long,
        scans them, applies the PII policy (replacing redacted prompts in place, unless the
        request is refused; a prompt with lone surrogates is replaced by the text checked, with
        U+FFFD for each) and estimates their tokens."""
    def check_output(self, body: bytes) -> tuple[int, bool, int | None, int | None] | None:
        """A JSON response body read for the output policy: the token estimate of its strings,
        whether it passes unchanged (no string holds the canary or, with ``output_pii``, an
        entity), and the input and output tokens it reports (OpenAI, Anthropic, Gemini usage;
        None for a side it does not report). None when it is not strict JSON (NaN, lone
        surrogates, invalid UTF-8)."""

def reported_usage(text: str) -> tuple[int | None, int | None]:
    """The input and output tokens a JSON text (one streamed event) reports, as
    ``GuardInspector.check_output`` reads them; (None, None) for none or text that is not JSON."""

@final
class BudgetLedger:
    """Token and cost usage per key for the current UTC day and month, in process (the state
    behind ``ravelin.budgets.Budget``). ``limits``: tokens per day and month, nano-dollars per
    day and month, -1 where none is set."""

    def __new__(cls, limits: tuple[int, int, int, int]) -> BudgetLedger: ...
    def apply(
        self,
        key: str,
        tokens: int,
        cost: int,
        check: bool,
        day: str,
        month: str,
        day_left: float,
        month_left: float,
    ) -> tuple[bool, Optional[int], Optional[float], float, int, float]:
        """Adds ``tokens`` and ``cost`` (nano-dollars; negative gives back) to ``key``'s usage
        in the period named ``day`` / ``month``; a reservation (``check``) is refused, and then
        counts nothing, when a budget would be overrun. Answers ``BudgetDecision``'s fields."""
    def usage(self, key: str, day: str, month: str) -> list[int]:
        """(tokens today, tokens this month, nano-dollars today, nano-dollars this month)."""
    def reset(self, key: str) -> None: ...

def budget_verdict(
    limits: tuple[int, int, int, int],
    allowed: bool,
    used: tuple[int, int, int, int],
    tokens: int,
    cost: int,
    check: bool,
    day_left: float,
    month_left: float,
) -> tuple[bool, Optional[int], Optional[float], float, int, float]:
    """``BudgetDecision``'s fields for usage kept elsewhere (Redis): ``used`` after the
    operation, or before it for a refused reservation."""
