"""What the guard enforces: one immutable `Policy`, from code, TOML or ``RAVELIN_*`` settings.

Precedence when combined with `Policy.load`: defaults < TOML file < environment. Every value is
validated once, here; a bad value raises ``ValueError`` naming the setting, so a misconfigured
service fails at start-up rather than on its first request.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import ipaddress
import os
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

ENV_PREFIX = "RAVELIN_"
INJECTION_ACTIONS = ("block", "flag", "log")
PII_INPUT_ACTIONS = ("allow", "redact", "block")
PII_OUTPUT_ACTIONS = ("allow", "redact", "block")

# A compiled prompt-field path: dict keys (str), list indices (int) and `[*]` (WILDCARD).
WILDCARD = None
PathSegment = Union[str, int, None]
_IpNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class Policy:
    """Everything one guarded endpoint (or a whole app) enforces.

    >>> Policy(rate_limit="30/minute", scopes=("chat",)).injection_action
    'block'
    """

    # Authentication: where the key is read from, in order (`Authorization` takes `Bearer <key>`).
    key_headers: tuple[str, ...] = ("Authorization", "X-API-Key")
    require_key: bool = True
    scopes: tuple[str, ...] = ()
    # Rate limit per API key (per client IP when anonymous), in the `limits` syntax; "" = none.
    rate_limit: str = "60/minute"
    # Size limits, checked before any content inspection.
    max_body_bytes: int = 1_048_576
    max_field_chars: int = 100_000
    # JSON fields holding prompt text: dotted paths, `[*]` for every list item, `[0]` for one.
    prompt_fields: tuple[str, ...] = (
        "prompt",  # completions: a string, or a list of them
        "prompt[*]",
        "input",  # embeddings, moderations, OpenAI Responses: a string, a list, or messages
        "input[*]",
        "input[*].content",
        "input[*].content[*].text",
        "input[*].output",  # Responses: a tool's output sent back
        "instructions",  # Responses: the system prompt
        "messages[*].content",  # chat completions, Anthropic messages: text or content parts
        "messages[*].content[*].text",
        "messages[*].content[*].content",  # Anthropic: a tool result, text or text blocks
        "messages[*].content[*].content[*].text",
        "system",  # Anthropic: the system prompt, text or text blocks
        "system[*].text",
        "contents[*].parts[*].text",  # Gemini
        "systemInstruction.parts[*].text",
        "system_instruction.parts[*].text",
    )
    # Prompt injection: `None` keeps the scanner's tuned default threshold.
    injection_threshold: Optional[float] = None
    injection_action: str = "block"
    # Scanner rules left out, by id (`ravelin.Scanner().rule_ids`). A coding assistant's API
    # may leave out `payload.shell_words` and `payload.shell_command`, which flag any mention
    # of `os.system` or `rm -rf`; an unknown id fails when the guard is built.
    injection_disabled_rules: tuple[str, ...] = ()
    # PII: one action for every entity type on input, with per-type overrides; one on output.
    pii_input_action: str = "redact"
    pii_input_entities: Mapping[str, str] = field(default_factory=dict)
    pii_output_action: str = "redact"
    # Token and cost (USD) budgets per key per UTC day / month (None = unlimited); `model`
    # counts and prices the tokens.
    model: str = "gpt-4o"
    tokens_per_day: Optional[int] = None
    tokens_per_month: Optional[int] = None
    cost_per_day: Optional[float] = None
    cost_per_month: Optional[float] = None
    # Abuse: `abuse_threshold` denials within `abuse_window` seconds put the client in a penalty
    # box for `abuse_penalty` seconds (0 disables). `repeat_limit` limits how often one client
    # may send the very same prompt ("3/10 minutes"; "" = no limit); past it: 429, and counted.
    repeat_limit: str = ""
    abuse_threshold: int = 10
    abuse_window: float = 60.0
    abuse_penalty: float = 300.0
    # Shared state: Redis for limits/budgets/abuse when set (else in-process); what an outage does.
    redis_url: Optional[str] = None
    redis_timeout: float = 0.25
    fail_open: bool = False
    # A secret string planted in the system prompt; seeing it in an output means it leaked.
    canary_token: Optional[str] = None
    # Peers (IPs or CIDR networks) whose X-Forwarded-For is believed; empty = believe nobody.
    trusted_proxies: tuple[str, ...] = ()

    _paths: tuple[tuple[PathSegment, ...], ...] = field(
        init=False, repr=False, compare=False, default=()
    )
    _proxies: tuple[_IpNetwork, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        _check_choice("injection_action", self.injection_action, INJECTION_ACTIONS)
        _check_choice("pii_input_action", self.pii_input_action, PII_INPUT_ACTIONS)
        _check_choice("pii_output_action", self.pii_output_action, PII_OUTPUT_ACTIONS)
        for entity, action in self.pii_input_entities.items():
            _check_choice(f"pii_input_entities[{entity!r}]", action, PII_INPUT_ACTIONS)
        if not self.key_headers:
            raise ValueError("key_headers: give at least one header name")
        for name in ("max_body_bytes", "max_field_chars"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be a positive integer, got {getattr(self, name)}")
        if self.abuse_threshold < 0:
            raise ValueError(f"abuse_threshold: must not be negative, got {self.abuse_threshold}")
        for name in ("abuse_window", "abuse_penalty"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive seconds, got {getattr(self, name)}")
        for name in ("tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name}: must not be negative, got {value}")
        if self.injection_threshold is not None and not 0.0 <= self.injection_threshold <= 1.0:
            raise ValueError(
                f"injection_threshold: must be within [0, 1], got {self.injection_threshold}"
            )
        if not self.redis_timeout > 0:
            raise ValueError(f"redis_timeout: must be positive, got {self.redis_timeout}")
        if self.canary_token is not None and len(self.canary_token) < 8:
            raise ValueError("canary_token: use at least 8 characters so it cannot occur by chance")
        object.__setattr__(self, "pii_input_entities", dict(self.pii_input_entities))
        object.__setattr__(self, "_paths", tuple(parse_path(p) for p in self.prompt_fields))
        object.__setattr__(self, "_proxies", tuple(_network(p) for p in self.trusted_proxies))

    def replace(self, **changes: Any) -> Policy:
        """A copy with some settings changed (validated like the original)."""
        return dataclasses.replace(self, **changes)

    def pii_action(self, entity_type: str) -> str:
        """The input action for one entity type."""
        return self.pii_input_entities.get(entity_type, self.pii_input_action)

    @property
    def prompt_paths(self) -> tuple[tuple[PathSegment, ...], ...]:
        return self._paths

    def is_trusted_proxy(self, address: str) -> bool:
        if not self._proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._proxies)

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, prefix: str = "") -> Policy:
        """Settings from a mapping: TOML-typed values, or strings (as in the environment).

        With a ``prefix`` (``"RAVELIN_"``), only keys starting with it are read, upper-case, and
        unknown ones are ignored (the environment holds much else); without one, every key must
        be a setting.
        """
        return cls(**_settings(values, prefix=prefix))

    @classmethod
    def from_toml(cls, path: Union[str, os.PathLike[str]]) -> Policy:
        """A policy from a TOML file whose top-level keys are the settings."""
        return cls(**_toml_settings(path))

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> Policy:
        """A policy from ``RAVELIN_*`` variables (``RAVELIN_POLICY_FILE`` names a TOML base)."""
        return cls.load(environ=environ)

    @classmethod
    def load(
        cls,
        path: Union[str, os.PathLike[str], None] = None,
        *,
        environ: Optional[Mapping[str, str]] = None,
        **overrides: Any,
    ) -> Policy:
        """Defaults < TOML file (``path`` or ``RAVELIN_POLICY_FILE``) < environment < overrides."""
        env = os.environ if environ is None else environ
        path = path or env.get(f"{ENV_PREFIX}POLICY_FILE") or None
        values: dict[str, Any] = _toml_settings(path) if path else {}
        values.update(_settings(env, prefix=ENV_PREFIX))
        values.update(overrides)
        return cls(**values)


# -- helpers ------------------------------------------------------------------------------------

_FIELDS = {f.name: f for f in dataclasses.fields(Policy) if f.init}
_HINTS = typing.get_type_hints(Policy)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}; got {value!r}")


def _network(text: str) -> _IpNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"trusted_proxies: {text!r} is not an IP address or network") from None


def _toml_settings(path: Union[str, os.PathLike[str]]) -> dict[str, Any]:
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"policy file {os.fspath(path)!r}: {e}") from None
    return _settings(data, prefix="")


def _settings(values: Mapping[str, Any], *, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in values.items():
        if prefix:
            if not key.startswith(prefix):
                continue
            name = key[len(prefix) :].lower()
            if name not in _FIELDS:
                continue  # e.g. RAVELIN_POLICY_FILE, or another tool's setting
        else:
            name = key
            if name not in _FIELDS:
                raise ValueError(f"unknown policy setting {key!r}; known: {', '.join(_FIELDS)}")
        out[name] = _coerce(name, raw, _HINTS[name])
    return out


def _coerce(name: str, raw: Any, hint: Any) -> Any:
    """One setting to its declared type; strings (environment, config) are parsed."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union:  # Optional[X]
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none")):
            return None
        return _coerce(name, raw, next(a for a in args if a is not type(None)))
    try:
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError
        if hint is int:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw.strip().replace("_", "")) if isinstance(raw, str) else int(raw)
        if hint is float:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if hint is str:
            if not isinstance(raw, str):
                raise ValueError
            return raw.strip()
        if origin is tuple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if origin in (dict, collections.abc.Mapping):
            if isinstance(raw, str):
                pairs = (p.split("=", 1) for p in raw.split(",") if p.strip())
                return {k.strip(): v.strip() for k, v in pairs}
            return {str(k): str(v) for k, v in dict(raw).items()}
    except (TypeError, ValueError, AttributeError):
        pass
    raise ValueError(f"{name}: cannot read {raw!r} as {getattr(hint, '__name__', hint)}")


def parse_path(text: str) -> tuple[PathSegment, ...]:
    """``messages[*].content`` -> ``("messages", WILDCARD, "content")``.

    >>> parse_path("choices[0].message.content")
    ('choices', 0, 'message', 'content')
    """
    segments: list[PathSegment] = []
    for part in text.split("."):
        cut = part.find("[")
        name, rest = (part, "") if cut < 0 else (part[:cut], part[cut:])
        if not name and not segments:
            raise ValueError(f"prompt_fields: {text!r} must start with a field name")
        if not part or "]" in name:
            raise ValueError(f"prompt_fields: {text!r} has an empty or malformed segment")
        if name:
            segments.append(name)
        while rest:
            index, sep, rest = rest[1:].partition("]")
            if not sep or (rest and not rest.startswith("[")):
                raise ValueError(f"prompt_fields: {text!r} has a malformed [index]")
            if index == "*":
                segments.append(WILDCARD)
            elif index.isdigit():
                segments.append(int(index))
            else:
                raise ValueError(f"prompt_fields: {text!r}: an index must be * or a number")
    return tuple(segments)
