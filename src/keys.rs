//! (placeholder: filled in by the keys work)
