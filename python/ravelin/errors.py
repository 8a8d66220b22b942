"""Guard denials: each carries an HTTP status, a stable code and a generic public message.

``reason`` is for the audit log only (it may name a rule or an entity type, never a key or a
matched secret); the client sees ``code`` and ``public_message`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional


class GuardError(Exception):
    """Base of every guard denial (and of `InternalError`, the answer to an app's failure)."""

    status: int = 400
    code: str = "bad_request"
    public_message: str = "The request was rejected."

    def __init__(self, reason: str = "", *, headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(reason or self.code)
        self.reason = reason or self.code
        self.headers: dict[str, str] = dict(headers or {})


class AuthenticationError(GuardError):
    status = 401
    code = "unauthorized"
    public_message = "Missing or invalid API key."


class MissingKeyError(AuthenticationError):
    """No key in the request."""


class MalformedKeyError(AuthenticationError):
    """The key fails its format or checksum check (rejected before any lookup)."""


class UnknownKeyError(AuthenticationError):
    """No stored key has this digest."""


class RevokedKeyError(AuthenticationError):
    """The key was revoked (or its rotation grace period ended)."""


class ExpiredKeyError(AuthenticationError):
    """The key is past its expiry."""


class PermissionDeniedError(GuardError):
    status = 403
    code = "forbidden"
    public_message = "This API key is not allowed to perform this request."


class PayloadTooLargeError(GuardError):
    status = 413
    code = "payload_too_large"
    public_message = "The request is too large."


class InvalidRequestError(GuardError):
    status = 422
    code = "invalid_request"
    public_message = "The request body could not be processed."


class ContentBlockedError(GuardError):
    status = 400
    code = "content_blocked"
    public_message = "The request was blocked by a content policy."


class RateLimitedError(GuardError):
    status = 429
    code = "rate_limited"
    public_message = "Too many requests. Retry later."

    def __init__(self, reason: str = "", *, retry_after: float = 0.0,
                 headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(reason, headers=headers)
        self.retry_after = max(0.0, retry_after)
        self.headers.setdefault("Retry-After", str(max(1, int(-(-self.retry_after // 1)))))


class BudgetExceededError(RateLimitedError):
    code = "budget_exceeded"
    public_message = "The usage budget for this API key is exhausted."


class TemporarilyBlockedError(RateLimitedError):
    code = "temporarily_blocked"
    public_message = "This client is temporarily blocked."


class ServiceUnavailableError(GuardError):
    status = 503
    code = "unavailable"
    public_message = "The service is temporarily unavailable."


class InternalError(GuardError):
    """Not a denial: the app failed on a request the guard let through. The client learns no
    more than that, and the request id to quote; the server logs the exception."""

    status = 500
    code = "internal_error"
    public_message = "The server could not complete the request."
