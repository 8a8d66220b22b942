"""Key records, what ``create`` returns, and validation of their fields."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Optional, Union

from ravelin._core import mask_key

Duration = Union[int, float, timedelta, str]

#: A scope: letters, digits and ``_ . : - /``, or ``*`` which grants every scope.
_SCOPE = re.compile(r"\*|[A-Za-z0-9_.:/-]{1,64}")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_TEXT = 256
_MAX_METADATA_BYTES = 16 * 1024
_MAX_SCOPES = 64
#: The longest accepted duration (100 years): longer is a typo, and keys should expire.
_MAX_DURATION = 100 * 365 * 86400.0


def parse_duration(value: Duration, name: str = "duration") -> float:
    """Seconds in ``value``: a number of seconds, a ``timedelta``, or ``"90d"``-style text
    (units ``s m h d w``). Raises ``ValueError`` naming ``name`` unless positive and finite."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(f"{name}: expected seconds or a duration like 90d, 12h, 30m")
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    else:
        raise TypeError(f"{name}: expected a number, a timedelta or a str like 90d")
    if not (0 < seconds <= _MAX_DURATION) or math.isnan(seconds):
        raise ValueError(f"{name}: must be positive and at most 100 years")
    return seconds


def _check_str(value: object, name: str) -> str:
    """A lookup argument (key id, owner): any str, where an unknown one is simply not found."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected str, got {type(value).__name__}")
    return value


def _check_text(value: object, name: str, *, allow_empty: bool = False) -> str:
    text = _check_str(value, name)
    if (not text and not allow_empty) or len(text) > _MAX_TEXT:
        raise ValueError(f"{name}: must be 1 to {_MAX_TEXT} characters")
    if not text.isprintable():
        raise ValueError(f"{name}: must not contain control characters")
    return text


def _check_scopes(scopes: Union[str, Sequence[str]]) -> tuple[str, ...]:
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    if not all(isinstance(s, str) for s in items):
        raise TypeError("scopes: every scope must be a str")
    cleaned = tuple(dict.fromkeys(s.strip() for s in items if s.strip()))
    if len(cleaned) > _MAX_SCOPES:
        raise ValueError(f"scopes: at most {_MAX_SCOPES}")
    for scope in cleaned:
        if not _SCOPE.fullmatch(scope):
            raise ValueError("scopes: each is '*' or 1-64 of letters, digits and _ . : - /")
    return cleaned


def _check_metadata(metadata: Optional[Mapping[str, Any]]) -> str:
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):
        raise TypeError("metadata: expected a mapping")
    try:
        text = json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError("metadata: must be JSON-serialisable") from exc
    if len(text) > _MAX_METADATA_BYTES:
        raise ValueError(f"metadata: at most {_MAX_METADATA_BYTES} bytes as JSON")
    return text


@dataclass(frozen=True)
class KeyRecord:
    """What a store keeps about a key (never the key). Times are Unix seconds."""

    key_id: str
    owner: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: Optional[float] = None
    revoked_at: Optional[float] = None
    last_used_at: Optional[float] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: The id of the key that replaced this one by ``rotate``.
    replaced_by: Optional[str] = None

    def __post_init__(self) -> None:
        # Records are shared through the cache: a caller must not be able to change one.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def status(self, now: Optional[float] = None) -> str:
        """``"active"``, ``"revoked"`` or ``"expired"`` at ``now`` (default: the current time).
        A rotated key stays active until its grace period ends."""
        now = time.time() if now is None else now
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "owner": self.owner,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "metadata": dict(self.metadata),
            "replaced_by": self.replaced_by,
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its record. ``key`` is the only copy of the raw key: hand it to its owner
    and drop it. ``repr`` and ``str`` show only the masked key."""

    key: str = field(repr=False)
    record: KeyRecord

    def __repr__(self) -> str:
        return f"CreatedKey(key={mask_key(self.key)!r}, record={self.record!r})"

    __str__ = __repr__


def oldest_first(records: Iterable[KeyRecord]) -> list[KeyRecord]:
    """``records`` sorted by creation time (key id breaks ties), as ``list`` returns them."""
    return sorted(records, key=lambda r: (r.created_at, r.key_id))
