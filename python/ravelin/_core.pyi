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

