//! (placeholder: filled in by the tokens work)
