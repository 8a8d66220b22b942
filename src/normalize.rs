//! (placeholder: filled in by the normalize work)
