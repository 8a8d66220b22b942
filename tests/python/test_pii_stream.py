"""StreamRedactor: chunked output equals one-shot redaction, whatever the chunk boundaries."""

from __future__ import annotations

import pytest
import ravelin

ANSWER = (
    "Here you go. Key ghp_abcdefghijklmnopqrstuvwxyz0123456789 and card 4111 1111 1111 1111; "
    "mail ana@example.org, AWS AKIAIOSFODNN7EXAMPLE.\n"
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n"
    "-----END RSA PRIVATE KEY-----\nDone."
)
SECRETS = [
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "4111 1111 1111 1111",
    "ana@example.org",
    "AKIAIOSFODNN7EXAMPLE",
    "MIIEowIBAAKCAQEA",
]


def run(chunks: list[str], **kwargs) -> tuple[list[str], str]:
    s = ravelin.StreamRedactor(**kwargs)
    out = [s.push(c) for c in chunks]
    out.append(s.finish())
    return out, "".join(out)


def test_split_at_every_position_gives_the_one_shot_result() -> None:
    want = ravelin.redact(ANSWER).text
    for i in range(len(ANSWER) + 1):
        parts, got = run([ANSWER[:i], ANSWER[i:]], hold=64)
        assert got == want, i
        for part in parts:
            for secret in SECRETS:
                assert secret not in part


def test_token_by_token_stream_never_emits_a_secret_fragment() -> None:
    chunks = [ANSWER[i : i + 3] for i in range(0, len(ANSWER), 3)]
    parts, got = run(chunks, hold=64)
    assert got == ravelin.redact(ANSWER).text
    emitted = ""
    for part in parts:
        emitted += part
        for secret in SECRETS:
            # No emitted prefix ends with the start of a secret that is still arriving.
            assert not any(emitted.endswith(secret[:k]) for k in range(8, len(secret)))


def test_operators_vault_and_finish() -> None:
    vault = ravelin.Vault()
    _, got = run([ANSWER[:50], ANSWER[50:]], operator="pseudonymize", vault=vault)
    assert "<GITHUB_TOKEN_1>" in got and vault.restore(got) == ANSWER
    s = ravelin.Redactor("mask").stream()
    assert s.push("short") == ""
    assert s.finish() == "short"
    assert s.finish() == ""
    with pytest.raises(ValueError, match="finished"):
        s.push("more")
    with pytest.raises(ValueError, match="hold"):
        ravelin.StreamRedactor(hold=1)


def test_whitespace_free_blob_is_not_buffered_whole() -> None:
    blob = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB" * 64_000  # 2 MB, no whitespace
    s = ravelin.StreamRedactor()
    emitted_early = sum(len(s.push(blob[i : i + 4096])) for i in range(0, len(blob), 4096))
    assert emitted_early >= len(blob) - 70_000  # held back at most ~64 KiB
    assert emitted_early + len(s.finish()) == len(blob)
