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
# Imports stay inside this section so parallel branches merge cleanly.
from collections.abc import Iterable  # noqa: E402
from typing import final  # noqa: E402

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

# --- keys ---

# --- limits ---

