"""detect / redact / redact_batch / operators / custom entities / bad input."""

from __future__ import annotations

import re

import pytest
import ravelin

TEXT = (
    "Mail ana@example.org, card 4111 1111 1111 1111, key ghp_abcdefghijklmnopqrstuvwxyz0123456789."
)


def test_entities_carry_type_offsets_score_and_text() -> None:
    found = ravelin.detect(TEXT)
    assert [e.entity_type for e in found] == ["EMAIL_ADDRESS", "CREDIT_CARD", "GITHUB_TOKEN"]
    for e in found:
        assert TEXT[e.start : e.end] == e.text
        assert 0.5 <= e.score <= 1.0
    # The repr is for logs: it never shows the value.
    assert "ana@" not in repr(found[0]) and "EMAIL_ADDRESS" in repr(found[0])


def test_offsets_are_code_points_after_emoji_and_accents() -> None:
    text = "😀 héllo → ana@example.org 你好 +44 20 7946 0958"
    found = ravelin.detect(text)
    assert [text[e.start : e.end] for e in found] == ["ana@example.org", "+44 20 7946 0958"]


def test_entities_filter_and_unknown_names() -> None:
    only = ravelin.detect(TEXT, entities=["CREDIT_CARD"])
    assert [e.entity_type for e in only] == ["CREDIT_CARD"]
    with pytest.raises(ravelin.UnknownNameError, match="EMAIL_ADDRESS"):
        ravelin.detect(TEXT, entities=["NOT_A_TYPE"])
    with pytest.raises(ravelin.UnknownNameError, match="replace, mask, hash, remove, pseudonymize"):
        ravelin.redact(TEXT, operator="shred")
    with pytest.raises(ravelin.UnknownNameError, match="operator"):
        ravelin.redact(TEXT, operator={"NOT_A_TYPE": "mask"})
    with pytest.raises(TypeError, match="operator"):
        ravelin.redact(TEXT, operator=3)  # type: ignore[arg-type]


def test_operators() -> None:
    assert (
        ravelin.redact(TEXT).text == "Mail <EMAIL_ADDRESS>, card <CREDIT_CARD>, key <GITHUB_TOKEN>."
    )
    assert ravelin.redact(TEXT, operator="remove").text == "Mail , card , key ."
    masked = ravelin.redact(TEXT, operator="mask", keep=2).text
    assert masked.startswith("Mail *************rg, card *****************11, key ****")
    mixed = ravelin.redact(TEXT, operator={"CREDIT_CARD": "mask", "EMAIL_ADDRESS": "remove"}).text
    assert mixed == "Mail , card ***************1111, key <GITHUB_TOKEN>."


def test_hash_is_stable_within_a_salt_only() -> None:
    a = ravelin.redact("x ana@example.org y ana@example.org", operator="hash", salt="s1").text
    tokens = re.findall(r"<EMAIL_ADDRESS_[0-9a-f]{6}>", a)
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    assert (
        a == ravelin.redact("x ana@example.org y ana@example.org", operator="hash", salt="s1").text
    )
    b = ravelin.redact("x ana@example.org", operator="hash", salt="s2").text
    assert tokens[0] not in b


def test_vault_round_trip_survives_case_and_punctuation() -> None:
    vault = ravelin.Vault()
    r = ravelin.redact(
        "Write to ana@example.org and bo@example.net, then ana@example.org",
        operator="pseudonymize",
        vault=vault,
    )
    assert r.text == "Write to <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2>, then <EMAIL_ADDRESS_1>"
    assert len(vault) == 2
    answer = (
        "Sure: **email_address_2**, (<Email_Address_1>) and [EMAIL_ADDRESS_1]. "
        "EMAIL_ADDRESS_9 stays."
    )
    assert (
        vault.restore(answer)
        == "Sure: **bo@example.net**, (ana@example.org) and [ana@example.org]. "
        "EMAIL_ADDRESS_9 stays."
    )
    assert (
        vault.restore(r.text) == "Write to ana@example.org and bo@example.net, then ana@example.org"
    )
    vault.clear()
    assert len(vault) == 0 and vault.restore("<EMAIL_ADDRESS_1>") == "<EMAIL_ADDRESS_1>"


def test_pseudonymize_needs_a_vault() -> None:
    with pytest.raises(ValueError, match="vault"):
        ravelin.redact(TEXT, operator="pseudonymize")


def test_batch_matches_single_calls() -> None:
    texts = [TEXT, "", "nothing here", "call +1 415-555-0132", TEXT * 3]
    batch = ravelin.redact_batch(texts, operator="mask")
    assert [r.text for r in batch] == [ravelin.redact(t, operator="mask").text for t in texts]
    assert [len(r.entities) for r in batch] == [3, 0, 0, 1, 9]
    with pytest.raises(TypeError, match="texts"):
        ravelin.redact_batch(["ok", 5])  # type: ignore[list-item]


def test_add_entity_and_detector_objects() -> None:
    ravelin.add_entity("TEST_EMPLOYEE_ID", r"\bEMP-\d{6}\b", context=["employee"], score=0.6)
    found = ravelin.detect("employee EMP-123456")
    assert [(e.entity_type, e.text) for e in found] == [("TEST_EMPLOYEE_ID", "EMP-123456")]
    d = ravelin.Detector(["EMAIL_ADDRESS"], allow_list=["ops@example.com"])
    assert [e.text for e in d.detect("ops@example.com ana@example.org EMP-123456")] == [
        "ana@example.org"
    ]
    d.add_entity("TEST_CARD_REF", r"\b\d{16}\b", validator="luhn", score=0.9)
    assert "TEST_CARD_REF" in d.entities and "TEST_CARD_REF" not in ravelin.Detector().entities
    with pytest.raises(ravelin.InvalidRuleError, match="TEST_BAD"):
        ravelin.add_entity("TEST_BAD", "(unclosed")
    with pytest.raises(ravelin.UnknownNameError, match="luhn"):
        ravelin.add_entity("TEST_BAD", "x", validator="nope")
    with pytest.raises(ValueError, match="score"):
        ravelin.add_entity("TEST_BAD", "x", score=3.0)
    with pytest.raises(ValueError, match="threshold"):
        ravelin.Detector(threshold=-1)


def test_redactor_carries_its_settings() -> None:
    r = ravelin.Redactor(
        {"CREDIT_CARD": "mask"}, ["CREDIT_CARD", "EMAIL_ADDRESS"], allow_list=["ana@example.org"]
    )
    out = r.redact(TEXT)
    assert (
        out.text
        == "Mail ana@example.org, card ***************1111, key "
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789."
    )
    assert [x.text for x in r.redact_batch([TEXT])[0].entities] == ["4111 1111 1111 1111"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\0",
        "a\0b ana@example.org\0",
        "\ud800 ana@example.org \udfff",
        "-----BEGIN",
        "@" * 10_000,
        "9" * 100_000,
    ],
)
def test_odd_input_never_breaks(text: str) -> None:
    r = ravelin.redact(text)
    assert isinstance(r.text, str)
    for e in r.entities:
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start : e.end].replace("\ud800", "\ufffd") == e.text


def test_lone_surrogates_keep_offsets_valid() -> None:
    text = "\ud800x ana@example.org"
    (e,) = ravelin.detect(text)
    assert text[e.start : e.end] == "ana@example.org"


def test_large_inputs_stay_linear() -> None:
    big = ("lorem ipsum dolor sit amet " * 2_000_000)[:50_000_000] + " ana@example.org"
    r = ravelin.redact(big)
    assert [e.entity_type for e in r.entities] == ["EMAIL_ADDRESS"] and r.text.endswith(
        "<EMAIL_ADDRESS>"
    )
    blob = "data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB" * 330_000
    assert ravelin.detect(blob) == []
    emails = " ".join(f"user{i}@example.com" for i in range(100_000))
    assert len(ravelin.detect(emails)) == 100_000
