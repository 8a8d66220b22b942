"""The key functions of the compiled core: format, checksum, digests, masks, ids, bad input."""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib

import pytest
import ravelin

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The pattern the PII engine uses for RAVELIN_API_KEY: keys must keep exactly this shape.
SCANNER = re.compile(r"rk_(live|test)_[0-9A-Za-z]{39}")


def reference_checksum(prefix_and_body: str) -> str:
    """The format's checksum, written independently: CRC32 as 6 base62 digits, big-endian."""
    value, digits = zlib.crc32(prefix_and_body.encode()), ""
    for _ in range(6):
        value, digit = divmod(value, 62)
        digits = BASE62[digit] + digits
    return digits


@pytest.mark.parametrize("prefix", ["rk_live", "rk_test", "acme_prod_2"])
def test_keys_follow_the_documented_format(prefix: str) -> None:
    for _ in range(200):
        key = ravelin.generate_key(prefix)
        head, check = key[:-6], key[-6:]
        assert head.startswith(prefix + "_") and len(head) == len(prefix) + 1 + 33
        assert check == reference_checksum(head)
    # A key built by hand to the same rules is accepted: the format is a contract.
    body = "0123456789abcdefghijABCDEFGHIJxyz"
    assert ravelin.check_key_format(f"{prefix}_{body}{reference_checksum(prefix + '_' + body)}")


def test_key_ids_are_a_stable_function_of_the_digest() -> None:
    # Stored ids must never change between versions: pin the derivation.
    digest = ravelin.hash_key(ravelin.generate_key())
    expected = hashlib.sha256(b"ravelin key id\0" + bytes.fromhex(digest)).hexdigest()[:16]
    assert ravelin.key_id(digest) == "key_" + expected


@pytest.mark.parametrize("prefix", ["rk_live", "rk_test"])
def test_default_prefixes_keep_the_scanner_shape(prefix: str) -> None:
    keys = {ravelin.generate_key(prefix) for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert SCANNER.fullmatch(key)
        assert ravelin.check_key_format(key)
        assert ravelin.check_key_format(key, prefix)
        assert not ravelin.check_key_format(key, "rk_other")


def test_default_prefix_is_live_and_custom_prefixes_work() -> None:
    assert ravelin.generate_key().startswith("rk_live_")
    key = ravelin.generate_key("acme_prod")
    assert key.startswith("acme_prod_") and len(key) == len("acme_prod_") + 39
    assert ravelin.check_key_format(key, "acme_prod")


def test_every_substitution_and_transposition_is_rejected() -> None:
    key = ravelin.generate_key()
    for i, original in enumerate(key):
        for c in BASE62 + "_":
            if c != original:
                assert not ravelin.check_key_format(key[:i] + c + key[i + 1 :])
    for i in range(len(key) - 1):
        if key[i] != key[i + 1]:
            assert not ravelin.check_key_format(key[:i] + key[i + 1] + key[i] + key[i + 2 :])


@pytest.mark.parametrize(
    "prefix", ["", "RK", "rk-live", "_rk", "rk_", "9rk", "rk live", "clé", "a" * 33, "rk\x00"]
)
def test_bad_prefixes_raise_naming_the_argument(prefix: str) -> None:
    with pytest.raises(ValueError, match="^prefix: "):
        ravelin.generate_key(prefix)


def test_digests_are_sha256_or_hmac_sha256() -> None:
    key = ravelin.generate_key()
    assert ravelin.hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    for pepper in (b"server-secret", "server-secret"):
        expected = hmac.new(b"server-secret", key.encode(), hashlib.sha256).hexdigest()
        assert ravelin.hash_key(key, pepper) == expected


def test_verify_accepts_only_the_matching_key_and_pepper() -> None:
    key, other = ravelin.generate_key(), ravelin.generate_key()
    digest = ravelin.hash_key(key, b"p1")
    assert ravelin.verify_key(key, digest, b"p1")
    assert ravelin.verify_key(key, digest.upper(), "p1")
    assert not ravelin.verify_key(other, digest, b"p1")
    assert not ravelin.verify_key(key, digest, b"p2")
    assert not ravelin.verify_key(key, digest)
    assert not ravelin.verify_key(key, digest[:-1] + ("0" if digest[-1] != "0" else "1"), b"p1")


@pytest.mark.parametrize(
    "digest", ["", "abc", "g" * 64, "0" * 63, "0" * 65, "é" * 32, "\ud800" * 64]
)
def test_malformed_digests_verify_false_and_have_no_id(digest: str) -> None:
    assert not ravelin.verify_key(ravelin.generate_key(), digest)
    with pytest.raises(ValueError, match="^digest: "):
        ravelin.key_id(digest)


def test_key_ids_are_short_stable_and_reveal_no_digest() -> None:
    key = ravelin.generate_key()
    digest = ravelin.hash_key(key)
    kid = ravelin.key_id(digest)
    assert re.fullmatch(r"key_[0-9a-f]{16}", kid)
    assert kid == ravelin.key_id(digest.upper())
    assert kid[4:] not in digest
    assert kid != ravelin.key_id(ravelin.hash_key(ravelin.generate_key()))


def test_masks_reveal_prefix_and_seven_characters() -> None:
    key = ravelin.generate_key()
    mask = ravelin.mask_key(key)
    assert mask == f"{key[:11]}…{key[-4:]}"
    assert len(mask.replace("rk_live_", "").replace("…", "")) == 7


@pytest.mark.parametrize(
    ("text", "mask"),
    [
        ("", "…"),
        ("short", "…"),
        ("rk_live_tooShort", "…"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz", "…wxyz"),
        ("password with spaces, long enough!", "…"),
        ("x" * (1 << 20), "…xxxx"),
        ("line\nbreak\x00and more text to be long", "…long"),
        ("\ud800" * 40, "…"),
        ("ключ" * 10, "…"),
    ],
)
def test_masks_of_other_strings_show_at_most_four_characters(text: str, mask: str) -> None:
    assert ravelin.mask_key(text) == mask


BAD_KEYS = [
    "",
    "rk_live_",
    "x" * (50 * 1024 * 1024),
    "rk_live_" + "a" * 39,
    "rk_live_\x00" + "a" * 38,
    "rk_live_" + "é" * 39,
    "rk_live_" + "\ud800" * 39,
    "RK_LIVE_" + "a" * 39,
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=range(len(BAD_KEYS)))
def test_bad_keys_are_rejected_cleanly(key: str) -> None:
    assert not ravelin.check_key_format(key)
    assert len(ravelin.mask_key(key)) <= 5
    digest = ravelin.hash_key(ravelin.generate_key())
    assert ravelin.verify_key(key, digest) is False


@pytest.mark.parametrize(
    "key", ["", " ", "tab\tkey", "é", "\ud800", "\x00", "k" * 257, "x" * 10**7]
)
def test_hash_key_refuses_non_keys_naming_the_argument(key: str) -> None:
    with pytest.raises(ValueError, match="^key: "):
        ravelin.hash_key(key)


def test_wrong_types_and_empty_peppers_are_clear_errors() -> None:
    key = ravelin.generate_key()
    with pytest.raises(ValueError, match="^pepper: "):
        ravelin.hash_key(key, b"")
    with pytest.raises(ValueError, match="^pepper: "):
        ravelin.verify_key(key, "0" * 64, "")
    with pytest.raises(TypeError, match="pepper"):
        ravelin.hash_key(key, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ravelin.check_key_format(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ravelin.hash_key(b"rk_live_x")  # type: ignore[arg-type]
