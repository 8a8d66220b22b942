//! Prompt-injection and jailbreak detection (placeholder).
