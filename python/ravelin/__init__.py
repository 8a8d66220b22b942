"""ravelin: the guardrail engine in front of your AI API.

The compiled core (``ravelin._core``) does the work; this package re-exports its public API
and adds the framework-neutral guard pipeline, stores and framework adapters.
"""

from ravelin._core import (
    InvalidRuleError,
    RavelinError,
    UnknownNameError,
    __version__,
)

from ravelin.errors import (
    AuthenticationError,
    BudgetExceededError,
    ContentBlockedError,
    ExpiredKeyError,
    GuardError,
    InvalidRequestError,
    MalformedKeyError,
    MissingKeyError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    RevokedKeyError,
    ServiceUnavailableError,
    TemporarilyBlockedError,
    UnknownKeyError,
)

# --- injection ---
from ravelin._core import Match, Scanner, ScanResult, scan, scan_batch

# --- pii ---
from ravelin._core import (
    Detector,
    Entity,
    RedactResult,
    Redactor,
    StreamRedactor,
    Vault,
    add_entity,
    detect,
    redact,
    redact_batch,
)

# --- tokens ---
from ravelin._core import (
    AUTO_EXACT_BELOW_CHARS,
    PRICES_AS_OF,
    count_tokens,
    estimate_cost,
    estimate_tokens,
    estimate_tokens_batch,
    model_table,
    register_model,
    set_price,
)
from ravelin.tokens import RequestCost, count_request_tokens, estimate_request_cost

# --- keys ---
from ravelin._core import (
    check_key_format,
    generate_key,
    hash_key,
    key_id,
    mask_key,
    verify_key,
)
from ravelin.keys import (
    AsyncRedisKeyStore,
    CreatedKey,
    KeyRecord,
    KeyStore,
    RedisKeyStore,
    SQLiteKeyStore,
)

# --- limits ---
from ravelin._core import Decision, RateLimiter

# --- guard ---
from ravelin.policy import Policy

__all__ = [
    "InvalidRuleError",
    "RavelinError",
    "UnknownNameError",
    "__version__",
    "AuthenticationError",
    "BudgetExceededError",
    "ContentBlockedError",
    "ExpiredKeyError",
    "GuardError",
    "InvalidRequestError",
    "MalformedKeyError",
    "MissingKeyError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RevokedKeyError",
    "ServiceUnavailableError",
    "TemporarilyBlockedError",
    "UnknownKeyError",
    # --- injection ---
    "Match",
    "ScanResult",
    "Scanner",
    "scan",
    "scan_batch",

    # --- pii ---
    "Detector",
    "Entity",
    "RedactResult",
    "Redactor",
    "StreamRedactor",
    "Vault",
    "add_entity",
    "detect",
    "redact",
    "redact_batch",

    # --- tokens ---
    "AUTO_EXACT_BELOW_CHARS",
    "PRICES_AS_OF",
    "RequestCost",
    "count_request_tokens",
    "count_tokens",
    "estimate_cost",
    "estimate_request_cost",
    "estimate_tokens",
    "estimate_tokens_batch",
    "model_table",
    "register_model",
    "set_price",

    # --- keys ---
    "check_key_format",
    "generate_key",
    "hash_key",
    "key_id",
    "mask_key",
    "verify_key",
    "AsyncRedisKeyStore",
    "CreatedKey",
    "KeyRecord",
    "KeyStore",
    "RedisKeyStore",
    "SQLiteKeyStore",

    # --- limits ---
    "Decision",
    "RateLimiter",

    # --- guard ---
    "Policy",

]
