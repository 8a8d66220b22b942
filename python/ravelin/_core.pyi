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

# --- keys ---

# --- limits ---

