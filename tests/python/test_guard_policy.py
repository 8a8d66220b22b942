"""Policy: defaults, TOML files, RAVELIN_* settings, validation naming the bad setting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ravelin.policy import WILDCARD, Policy, parse_path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

CASES = tomllib.loads((Path(__file__).parent / "data" / "guard_policy_env.toml").read_text())


def _expected(value):
    if value == "none":
        return None
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("case", CASES["ok"], ids=lambda c: ",".join(c["env"]))
def test_environment_settings_are_parsed_to_their_types(case):
    policy = Policy.from_env(case["env"])
    assert getattr(policy, case["field"]) == _expected(case["value"])


@pytest.mark.parametrize("case", CASES["bad"], ids=lambda c: ",".join(c["env"].values()))
def test_bad_settings_raise_value_errors_naming_the_setting(case):
    with pytest.raises(ValueError, match=case["names"]):
        Policy.from_env(case["env"])


def test_toml_file_then_environment_then_overrides(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(
        'rate_limit = "10/minute"\nscopes = ["chat"]\nmax_field_chars = 500\n'
        'pii_input_entities = { US_SSN = "block" }\ninjection_action = "flag"\n'
    )
    env = {"RAVELIN_POLICY_FILE": str(path), "RAVELIN_RATE_LIMIT": "20/minute"}
    policy = Policy.load(environ=env, max_field_chars=100)
    assert policy.rate_limit == "20/minute"  # environment beats the file
    assert policy.scopes == ("chat",)  # from the file
    assert policy.max_field_chars == 100  # explicit override beats both
    assert policy.injection_action == "flag"
    assert policy.pii_action("US_SSN") == "block"
    assert policy.pii_action("EMAIL_ADDRESS") == policy.pii_input_action == "redact"
    assert Policy.from_toml(path).rate_limit == "10/minute"


def test_toml_file_with_unknown_or_broken_settings_is_rejected(tmp_path):
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('rate_limt = "10/minute"\n')
    with pytest.raises(ValueError, match="rate_limt"):
        Policy.from_toml(unknown)
    broken = tmp_path / "broken.toml"
    broken.write_text("rate_limit = \n")
    with pytest.raises(ValueError, match="broken.toml"):
        Policy.from_toml(broken)
    wrong_type = tmp_path / "type.toml"
    wrong_type.write_text("max_body_bytes = true\n")
    with pytest.raises(ValueError, match="max_body_bytes"):
        Policy.from_toml(wrong_type)


def test_policy_is_immutable_and_replace_validates():
    policy = Policy()
    with pytest.raises(AttributeError):
        policy.rate_limit = "1/second"  # type: ignore[misc]
    assert policy.replace(rate_limit="1/second").rate_limit == "1/second"
    with pytest.raises(ValueError, match="pii_output_action"):
        policy.replace(pii_output_action="shred")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("prompt", ("prompt",)),
        ("messages[*].content", ("messages", WILDCARD, "content")),
        ("choices[0].message.content", ("choices", 0, "message", "content")),
        ("a[*][1].b", ("a", WILDCARD, 1, "b")),
    ],
)
def test_prompt_field_paths(text, path):
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["", "[0].a", "a.", "a[", "a[1", "a[-1]", "a]b", "a[*]x"])
def test_malformed_prompt_field_paths(text):
    with pytest.raises(ValueError, match="prompt_fields"):
        parse_path(text)


def test_forwarded_for_is_trusted_only_from_configured_proxies():
    assert not Policy().is_trusted_proxy("127.0.0.1")
    policy = Policy(trusted_proxies=("10.0.0.0/8", "::1"))
    assert policy.is_trusted_proxy("10.1.2.3")
    assert policy.is_trusted_proxy("::1")
    assert not policy.is_trusted_proxy("192.168.0.1")
    assert not policy.is_trusted_proxy("garbage\x00")
