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

