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

